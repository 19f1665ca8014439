"""What the fuzz tests share: the CLI run in-process, the property every run must keep, and a
loopback model that answers like OpenAI.

The property: a run ends in exit 0, in exit 2 with exactly one ``error:`` line (the last one on
stderr), or in 130, and never prints "internal error" or a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.cli import main

from .raw_http import RawServer, http_response

ERROR_PREFIX = "prompt-tuner: error: "
FAST_CONFIG = ("retry: {attempts: 2, initial_s: 0, max_s: 0.01, jitter_s: 0}\n"
               "timeouts: {connect: 0.5, read: 0.3, write: 0.5, pool: 0.5, total: 0.6}\n"
               "pool: {cooldown_s: 0}\n")


# Internal errors found by fuzzing whose root is outside the CLI, each with the file to fix; every
# one has a case in tests/fuzz_corpus/ marked "open". While listed, the fuzz tests let them pass
# (and count them): remove an entry once its fix lands, so the fuzz tests guard it again.
KNOWN_OPEN: dict[str, str] = {}


@dataclass
class Outcome:
    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float

    def problem(self) -> str | None:
        """Why this run breaks the property, or None."""
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [line for line in lines if ERROR_PREFIX in line]
        if "internal error" in self.err or "Traceback" in self.err + self.out:
            return "internal error"
        if self.code == 0 or self.code == 130:
            return None
        if self.code != 2:
            return f"exit {self.code}"
        if len(errors) != 1 or not lines[-1].startswith(ERROR_PREFIX):
            return f"{len(errors)} error lines, the last line is {lines[-1:]!r}"
        return None

    def known_open(self) -> str | None:
        """The ``KNOWN_OPEN`` entry this run's internal error matches, if any."""
        if self.problem() != "internal error":
            return None
        return next((where for sig, where in KNOWN_OPEN.items() if sig in self.err), None)

    def describe(self) -> str:
        return (f"argv={self.argv!r}\nexit {self.code} after {self.seconds:.1f}s\n"
                f"stderr (end): {self.err[-1500:]}\nstdout (end): {self.out[-300:]}")


def run_cli(argv: list[str], replies: list[dict[str, Any]] | None = None) -> Outcome:
    """``core.cli.main(argv)`` with stdout and stderr captured; an escaping exception is an
    internal error (argparse's ``--help`` exits 0 through SystemExit, which is fine)."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:
            err.write(f"internal error: escaped main(): Traceback {type(exc).__name__}: {exc}\n")
            code = 1
    outcome = Outcome(argv, code, out.getvalue(), err.getvalue(), time.monotonic() - started)
    _log(outcome, replies)
    return outcome


def _log(outcome: Outcome, replies: list[dict[str, Any]] | None) -> None:
    """With ``FUZZ_LOG=FILE``: one JSON line per case (how many ran, how they ended); a case that
    breaks the property also gets its files and replies, ready to go into the corpus."""
    path = os.environ.get("FUZZ_LOG")
    if not path:
        return
    last = [line for line in outcome.err.splitlines() if line.strip()][-1:]
    record: dict[str, Any] = {"argv": outcome.argv, "code": outcome.code,
                              "problem": outcome.problem(), "open": outcome.known_open(),
                              "last": last,
                              "s": round(outcome.seconds, 3)}
    if record["problem"]:
        record["files"] = {p.name: p.read_bytes().decode("utf-8", "surrogateescape")
                           for p in Path.cwd().iterdir()
                           if p.is_file() and p.stat().st_size < 300_000 and p.suffix != ".db"}
        record["replies"] = replies
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def assert_property(outcome: Outcome) -> None:
    """Fails the test on a broken property; with ``FUZZ_EXPLORE=1`` only logs it (to find many
    distinct failures in one long run: ``FUZZ_LOG=f.jsonl FUZZ_EXAMPLES=2000 FUZZ_EXPLORE=1``)."""
    problem = outcome.problem()
    if os.environ.get("FUZZ_EXPLORE") or outcome.known_open():
        return
    assert problem is None, f"{problem}\n{outcome.describe()}"


def examples(default: int) -> int:
    """How many cases a fuzz test draws: ``default`` in CI, ``FUZZ_EXAMPLES`` to explore."""
    return int(os.environ.get("FUZZ_EXAMPLES", default))


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A fresh folder for one fuzz case (hypothesis runs many cases per test function), made the
    working directory for the case."""
    before = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as name:
        os.chdir(name)
        try:
            yield Path(name)
        finally:
            os.chdir(before)


def completion_body(text: str, model: str = "m") -> bytes:
    return json.dumps({
        "id": "c1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }).encode()


def plausible_answer(request: bytes) -> bytes:
    """A plausible answer for any role: a label for the target, a score for a judge, a prompt
    with the usual slot for the optimizer."""
    body = request.partition(b"\r\n\r\n")[2].lower()
    if b"score" in body or b"rubric" in body:
        text = "Score: 7/10 - fine"
    elif b"prompt" in body and b"improve" in body:
        text = "Classify this review as positive or negative: {{ text }}"
    else:
        text = "positive"
    return http_response(200, completion_body(text))


def good_model() -> RawServer:
    """A loopback OpenAI-style model that always answers well (start it; stop it after)."""
    return RawServer(plausible_answer)


def models_config(base_url: str) -> str:
    """A prompt-tuner.yaml with every role on the loopback model and quick failure."""
    spec = f"openai:m@{base_url}"
    return f"models: {{target: '{spec}', optimizer: '{spec}', judge: '{spec}'}}\n" + FAST_CONFIG


def write_files(root: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content), encoding="utf-8")
