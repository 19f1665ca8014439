"""The ceiling of a label task for the embedded model, whatever the prompt: forced choice.

For each held-out example of a public labelled set (``bench/public.py``: the same seeded test
sample ``bench/quality.py`` scores), the label whose first token the model rates highest right
after the chat-formatted prompt (over casing and leading-space variants) is its answer; no
strict one-word answer the model writes can beat that choice by much. Printed per prompt style
and number of demonstrations (balanced, from train), with and without contextual calibration
(the label log-probabilities of a content-free input subtracted).

    python bench/forced_choice.py --data ../shared/datasets --task sst2
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.public import TASKS, Row, _split  # noqa: E402
from core.models.embedded import default_model_path  # noqa: E402

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


class Chooser:
    """One llama context; prompts that share a prefix with the previous one reuse its cache."""

    def __init__(self, model: Path, labels: list[str]) -> None:
        from llama_cpp import Llama
        self.llm: Any = Llama(str(model), n_ctx=4096, n_threads=1, verbose=False)
        self.label_ids = [self._ids(label) for label in labels]

    def _ids(self, label: str) -> list[int]:
        variants = (label, label.capitalize(), " " + label, " " + label.capitalize())
        return sorted({self.llm.tokenize(v.encode(), add_bos=False, special=False)[0]
                       for v in variants})

    def logprobs(self, turns: list[tuple[str, str]]) -> Any:
        text = "".join(f"<|im_start|>{role}\n{body}<|im_end|>\n" for role, body in turns)
        tokens = self.llm.tokenize((text + "<|im_start|>assistant\n").encode(), add_bos=False,
                                   special=True)
        cached = list(self.llm._input_ids[: self.llm.n_tokens])
        keep = 0
        while keep < min(len(cached), len(tokens) - 2) and cached[keep] == tokens[keep]:
            keep += 1
        self.llm.n_tokens = keep
        self.llm.eval(tokens[keep:])
        row = np.array(np.ctypeslib.as_array(self.llm._ctx.get_logits(),
                                             shape=(self.llm.n_vocab(),)), dtype=np.float64)
        row -= row.max()
        row -= math.log(float(np.exp(row).sum()))
        return np.array([max(row[i] for i in ids) for ids in self.label_ids])


def balanced(train: list[Row], labels: list[str], k: int) -> list[Row]:
    by = {label: [r for r in train if r[1] == label] for label in labels}
    out = [by[label][i] for i in range(max(1, k // len(labels))) for label in labels
           if i < len(by[label])]
    return out[:k]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder of public datasets (../shared/datasets)")
    p.add_argument("--task", default="sst2", choices=sorted(TASKS))
    p.add_argument("--demos", default="0,4,8,16", help="numbers of demonstrations to try")
    p.add_argument("--test", type=int, default=100, help="held-out examples (as bench/quality.py)")
    args = p.parse_args(argv)
    spec = TASKS[args.task]
    splits = _split(spec.read(Path(args.data) / args.task), args.task, 64, args.test)
    slot = spec.prompt.split("{{ ")[1].split(" }}")[0]
    labels = list(spec.labels)
    words = " or ".join(labels)
    styles = {"original+words": f"{spec.prompt}\nAnswer with one word: {words}.",
              "label-first": f"Answer with one word: {words}.\n{spec.prompt}"}
    test = splits["test"]
    majority = max(labels, key=lambda label: sum(r[1] == label for r in test))
    share = sum(r[1] == majority for r in test) / len(test)
    print(f"{args.task}: n={len(test)}, majority '{majority}' {share:.0%}")
    chooser = Chooser(default_model_path(), labels)
    for style, template in styles.items():
        for k in (int(x) for x in args.demos.split(",")):
            demos = balanced(splits["train"], labels, k)

            def turns(text: str, template: str = template,
                      demos: list[Row] = demos) -> list[tuple[str, str]]:
                out = [("system", SYSTEM)]
                for inputs, expected in demos:
                    out += [("user", template.replace("{{ " + slot + " }}", inputs[slot])),
                            ("assistant", expected)]
                return [*out, ("user", template.replace("{{ " + slot + " }}", text))]

            started = time.perf_counter()
            free = chooser.logprobs(turns("N/A"))
            raw = calibrated = 0
            said: list[str] = []
            for inputs, expected in test:
                lp = chooser.logprobs(turns(inputs[slot]))
                said.append(labels[int(lp.argmax())])
                raw += said[-1] == expected
                calibrated += labels[int((lp - free).argmax())] == expected
            most = max(said.count(label) for label in labels) / len(said)
            print(f"{style:15s} demos={k:2d}  forced choice {raw / len(test):4.0%}  calibrated "
                  f"{calibrated / len(test):4.0%}  (most frequent answer {most:.0%})  "
                  f"{time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
