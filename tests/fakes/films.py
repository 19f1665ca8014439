"""A labelled film-review task of N generated reviews, written to disk for tests that drive the
engine end to end: review i is "film i was great" (positive) for odd i, "… awful" otherwise."""

from __future__ import annotations

import json
from pathlib import Path

N = 40


def review(i: int) -> str:
    return f"film {i} was {'great' if i % 2 else 'awful'}"


def label(i: int) -> str:
    return "positive" if i % 2 else "negative"


def film_task(folder: Path, name: str = "films", n: int = N) -> Path:
    rows = [{"text": review(i), "expected": label(i)} for i in range(n)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "task.yaml"
    path.write_text(f"name: {name}\ndescription: Label a film review.\n"
                    "prompt: 'Review: {{ text }}'\ndataset: {file: data.jsonl}\nmetric: label\n"
                    "labels: [positive, negative]\n")
    return path
