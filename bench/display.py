"""What does watching a run cost? Events per second the terminal display absorbs.

A run emits an ``ExampleScored`` per answer, a ``ModelCalled`` per paid call and a ``Progress``
at most 10 times a second. This feeds N synthetic answers' worth of those events (default
20,000) to the CLI's ``ProgressDisplay`` in each mode — live panel (a terminal), plain lines (a
pipe), ``-vv`` plain, and with a ``--log-file`` — and prints the time per event against a handler
that does nothing, in the same run. Compare the per-event cost with a model call's latency
(tens to hundreds of milliseconds).

    python bench/display.py
    python bench/display.py --answers 100000
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console

from core import Estimate, Event, ExampleScored, ModelCalled, PhaseStarted, Progress, RoundFinished
from core.cli.progress import ProgressDisplay


def events(answers: int) -> list[Event]:
    run = "bench"
    out: list[Event] = [PhaseStarted(run, "baseline", answers, "the original prompt")]
    for i in range(answers):
        out.append(ModelCalled(run, "embedded", f"{i:012x}", 60, 4, 0.05, "stop",
                               "Review: a film", "positive"))
        out.append(ExampleScored(run, "cand", i + 1, answers, 1.0))
        if i % 10 == 0:
            out.append(Progress(run, i + 1, 0, 0, 0, 60 * i, 4 * i, 0.0, i * 0.01, 10 * answers))
    out.append(RoundFinished(run, 1, "cand", Estimate(0.5, 0.4, 0.6, answers)))
    return out


def timed(handler: Callable[[Event], None], stream: list[Event]) -> float:
    start = time.perf_counter()
    for event in stream:
        handler(event)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=20_000)
    args = ap.parse_args()
    stream = events(args.answers)
    n = len(stream)
    base = timed(lambda e: None, stream)
    print(f"{n:,} events for {args.answers:,} answers; a do-nothing handler: "
          f"{base / n * 1e6:.2f} µs/event")
    with tempfile.TemporaryDirectory() as tmp:
        modes: list[tuple[str, Callable[[], ProgressDisplay]]] = [
            ("live panel (terminal)", lambda: ProgressDisplay(Console(
                file=io.StringIO(), force_terminal=True, force_interactive=True, width=120))),
            ("plain lines (pipe)", lambda: ProgressDisplay(Console(file=io.StringIO(),
                                                                    force_terminal=False))),
            ("plain, -vv (a line per call)", lambda: ProgressDisplay(
                Console(file=io.StringIO(), force_terminal=False), verbosity=2)),
            ("plain + --log-file", lambda: ProgressDisplay(
                Console(file=io.StringIO(), force_terminal=False),
                log_file=Path(tmp) / "run.jsonl")),
        ]
        for name, make in modes:
            display = make()
            try:
                took = timed(display, stream)
            finally:
                display.close()
            print(f"  {name:30s} {took:7.3f} s  {took / n * 1e6:8.2f} µs/event  "
                  f"{took / args.answers * 1e3:6.3f} ms/answer")


if __name__ == "__main__":
    main()
