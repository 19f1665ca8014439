"""Start, drive and stop the fake model server (``tests/fakes/model_server.py``).

The server runs as its own process so that its event loop gets its own CPU core; this module is
the client side that tests and benchmarks use::

    with FakeServer("anthropic", latency=0.02) as server:
        server.faults({"kind": "429", "retry_after": 1.0})
        ...  # point the code under test at server.base_url
        assert server.requests()[0]["status"] == 429
"""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import httpx

from core import load_settings

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
SERVER_MODULE: Final = "tests.fakes.model_server"
FLAVORS: Final = ("openai", "anthropic", "huggingface")
READY_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 5.0
CONTROL_TIMEOUT_S: Final = 10.0


class FakeServerError(RuntimeError):
    """The fake server did not start, or refused a control call."""


class FakeServer:
    """One fake model server process and a control client for it."""

    def __init__(self, flavor: str = "openai", latency: float = 0.0, reply: str = "echo") -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {FLAVORS}, not {flavor!r}")
        self.flavor = flavor
        self.latency = latency
        self.reply = reply
        self.host = "127.0.0.1"
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._client: httpx.Client | None = None

    # -- addresses ----------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: where the control API (``/_...``) lives."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The provider base URL an adapter is configured with (``/v1`` except for Anthropic)."""
        return self.root_url if self.flavor == "anthropic" else f"{self.root_url}/v1"

    # -- life cycle ---------------------------------------------------------------------------
    def command(self) -> list[str]:
        """The command line that runs the server."""
        return [
            sys.executable, "-m", SERVER_MODULE, "--flavor", self.flavor, "--host", self.host,
            "--port", "0", "--latency", repr(float(self.latency)), "--reply", self.reply,
        ]

    def start(self) -> FakeServer:
        """Spawn the server and wait for its ``READY <port>`` line."""
        if self._proc is not None:
            raise FakeServerError("fake server already started")
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop())
        self._proc = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True,
        )
        try:
            self.port = self._await_ready(self._proc)
        except BaseException:
            self.stop()
            raise
        self._client = httpx.Client(base_url=self.root_url, timeout=CONTROL_TIMEOUT_S)
        return self

    def _await_ready(self, proc: subprocess.Popen[str]) -> int:
        """The port from the server's first stdout line; FakeServerError with its stderr."""
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            what = f"no READY line in {READY_TIMEOUT_S:g} s"
            raise FakeServerError(self._failure(what)) from None
        words = line.split()
        if len(words) != 2 or words[0] != "READY" or not words[1].isdigit():
            raise FakeServerError(self._failure(f"expected 'READY <port>', got {line!r}"))
        return int(words[1])

    def _failure(self, what: str) -> str:
        """A start-failure message with the server's exit status and stderr."""
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.5)
        code = self._proc.returncode if self._proc is not None else None
        return f"fake {self.flavor} server failed to start: {what} (exit {code})\n{self.stderr()}"

    def stderr(self) -> str:
        """What the server wrote to stderr so far (empty when healthy)."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it after 5 s; safe to call twice."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> FakeServer:
        return self if self._proc is not None else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- control API --------------------------------------------------------------------------
    def faults(self, *faults: dict[str, Any]) -> None:
        """Queue faults; each following model request suffers the next one (FIFO)."""
        self._call("POST", "/_faults", {"faults": list(faults)})

    def configure(self, **cfg: Any) -> None:
        """Change ``latency``, ``reply`` (``echo``/``fixed:TEXT``), ``rules`` or ``down``."""
        self._call("POST", "/_config", cfg)

    def log(self) -> dict[str, Any]:
        """``{"requests": [...], "peak_in_flight": int, "count": int, "faults_pending": int}``."""
        result: dict[str, Any] = self._call("GET", "/_log")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The logged model requests (control calls excluded), in order of arrival."""
        return [r for r in self.log()["requests"] if not str(r["path"]).startswith("/_")]

    def reset(self) -> None:
        """Clear log, faults and peak counter; restore the settings given at start."""
        self._call("POST", "/_reset", {})

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        if self._client is None:
            raise FakeServerError("fake server is not running; call start() first")
        response = self._client.request(method, path, json=payload)
        if response.status_code != 200:
            raise FakeServerError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; reap the process and close its stdout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def loopback_settings(server: FakeServer, folder: Path, flags: dict[str, Any]) -> Any:
    """Settings with every model role on ``server`` (OpenAI format), the store and run folder in
    ``folder``, no response cache, and ``flags`` on top."""
    spec = f"openai:fake@{server.base_url}"
    return load_settings(flags={
        "models.target": spec, "models.optimizer": spec, "models.judge": spec,
        "store_path": str(folder / "store.db"), "run_dir": str(folder / "runs"),
        "cache.enabled": False, **flags}).settings
