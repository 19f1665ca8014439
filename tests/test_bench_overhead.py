"""bench/overhead.py runs end to end on a tiny load, a zero-latency server included (it has no
ideal time to divide by), and refuses nonsense arguments in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "overhead.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_a_zero_latency_server_prints_no_ratio_to_an_ideal_of_zero() -> None:
    done = _bench("--latency", "0", "--requests", "40", "--concurrency", "4", "--repeat", "1",
                  "--naive", "4")
    assert done.returncode == 0, done.stderr
    assert "ratio to ideal   n/a" in done.stdout
    assert "stack cost over the bare loop" in done.stdout


def test_nonsense_arguments_are_one_line_and_exit_2() -> None:
    done = _bench("--concurrency", "0")
    assert done.returncode == 2
    assert "must be at least 1" in done.stderr.splitlines()[-1]
