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


def test_one_run_prints_the_stack_beside_its_floor_the_saturation_and_the_pool_scaling() -> None:
    """The three figures the bench exists for come out of one run, side by side (what they are
    depends on the machine: only that they are printed is checked)."""
    done = _bench("--latency", "0.005", "--requests", "64", "--concurrency", "8", "--repeat", "1",
                  "--naive", "4", "--saturate", "16", "--servers", "1,2", "--per-server", "4")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    stack = next(line for line in out.splitlines() if line.startswith("full stack:"))
    floor = next(line for line in out.splitlines() if line.startswith("bare aiohttp loop"))
    assert "ratio to ideal" in stack and "ratio to ideal" in floor
    float(stack.split("ratio to ideal")[1].split()[0])  # a number, not n/a
    saturation = out.split("saturation: 64 requests, 16 in flight, zero-latency server")[1]
    assert saturation.count("calls/s") == 2
    pool = out.split("pool scaling:")[1].splitlines()
    assert pool[1].lstrip().startswith("1 server(s):") and "x1.00" in pool[1]
    assert pool[2].lstrip().startswith("2 server(s):") and "per-server requests [" in pool[2]
