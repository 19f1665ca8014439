"""What ``tune`` shows while it runs, and where its logs go.

The engine never prints: it emits events (``core.events``) and logs (std ``logging``); this module
renders both for the terminal front.

- On an interactive terminal: milestone lines (phases, rounds, warnings) above a live panel that
  updates in place — phase and round, a bar with ETA, calls/s, tokens, cost against the budget,
  cache hits, retries, and the best score with its CI.
- Anywhere else (CI logs, pipes): the same milestones, and a status line at each phase or round
  change and at most every ``PLAIN_EVERY_S`` seconds in between. No control codes.
- ``-q``: warnings only. ``-v``: each candidate and its score, INFO logs. ``-vv``: each model
  call, DEBUG logs. ``--log-file``: every event and log record, one JSON object a line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.markup import escape
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from core import (
    CandidateProposed,
    EvaluationDone,
    Event,
    ExampleScored,
    ModelCalled,
    PhaseStarted,
    Progress,
    PromptTunerError,
    RoundFinished,
    RunFinished,
    RunWarning,
)

PLAIN_EVERY_S = 5.0   # plain output: a status line at most this often between milestones
RATE_WINDOW_S = 10.0  # calls/s is measured over this much of the recent past


def log_level(verbosity: int) -> int:
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


# -- the run as the display knows it ---------------------------------------------------------------


@dataclass
class RunState:
    """Events folded into what the display shows; pure, no I/O. ``now`` is a monotonic clock."""

    phase: str = ""
    detail: str = ""
    round: int = 0
    total: int | None = None      # units planned in the phase
    done: int = 0                 # units done in the phase
    phase_started: float = 0.0
    best: str = ""                # "id 80% [62%, 91%] (n=20)"
    spent: Progress | None = None
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=256))

    @property
    def unit(self) -> str:
        return "candidates" if self.phase == "propose" else "answers"

    @property
    def label(self) -> str:
        if self.phase == "propose":
            return f"round {self.round}"
        return f"round {self.round} · evaluate" if self.phase == "evaluate" and self.round \
            else self.phase

    def apply(self, event: Event, now: float) -> None:
        if isinstance(event, PhaseStarted):
            self.phase, self.detail, self.total = event.phase, event.detail, event.total
            self.done, self.phase_started = 0, now
            if event.round:
                self.round = event.round
        elif isinstance(event, ExampleScored | CandidateProposed):
            counted = ExampleScored if self.unit == "answers" else CandidateProposed
            if isinstance(event, counted):
                self.done += 1
        elif isinstance(event, EvaluationDone):
            if self.phase == "baseline" and not event.partial:
                self.best = f"{event.candidate_id} {event.estimate.fmt()}"
        elif isinstance(event, RoundFinished):
            self.round = event.round
            self.best = f"{event.best_id} {event.best.fmt()}"
        elif isinstance(event, Progress):
            self.spent = event
            self.samples.append((event.elapsed_s, event.calls))

    def eta_s(self, now: float) -> float | None:
        """Seconds until the phase's planned work is done, at the phase's rate so far."""
        took = now - self.phase_started
        if not self.total or not 0 < self.done < self.total or took <= 0:
            return None
        return (self.total - self.done) * took / self.done

    def calls_per_s(self) -> float | None:
        if not self.samples:
            return None
        t_now, c_now = self.samples[-1]
        t_old, c_old = next((t, c) for t, c in self.samples if t_now - t <= RATE_WINDOW_S)
        if t_now - t_old >= 1.0:
            return (c_now - c_old) / (t_now - t_old)
        return c_now / t_now if t_now >= 1.0 else None

    def work(self, now: float, eta: bool = True) -> str:
        """``14/24 answers (58%), ETA 3s``."""
        if self.total is None:
            return f"{self.done} {self.unit}" if self.done else ""
        text = f"{self.done}/{self.total} {self.unit}"
        if self.total:
            text += f" ({min(self.done / self.total, 1.0):.0%})"
        left = self.eta_s(now) if eta else None
        return text + (f", ETA {fmt_duration(left)}" if left is not None else "")

    def spending(self) -> list[str]:
        """``calls 57/400 (12.3/s)``, ``tokens 12.3k``, ``cost $0.01/$1.00``, cache hits, retries."""
        p = self.spent
        if p is None:
            return []
        rate = self.calls_per_s()
        parts = [f"calls {p.calls}{_of(p.max_calls, str)}"
                 + (f" ({rate:.1f}/s)" if rate is not None else ""),
                 f"tokens {fmt_count(p.tokens)}{_of(p.max_tokens, fmt_count)}",
                 f"cost {fmt_cost(p.cost)}{_of(p.max_cost, fmt_cost)}",
                 f"cache hits {p.cache_hits}", f"retries {p.retries}"]
        return parts + ([f"failures {p.failures}"] if p.failures else [])

    def elapsed(self) -> list[str]:
        return [] if self.spent is None else [f"{fmt_duration(self.spent.elapsed_s)} elapsed"]


def _of(limit: Any, fmt: Callable[[Any], str]) -> str:
    return "" if limit is None else f"/{fmt(limit)}"


def fmt_count(n: int) -> str:
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def fmt_cost(dollars: float) -> str:
    if dollars == 0:
        return "$0"
    return f"${dollars:.4f}" if dollars < 1 else f"${dollars:.2f}"


def fmt_duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# -- the JSON-lines log file --------------------------------------------------------------------


class JsonLinesLog(logging.Handler):
    """``--log-file``: appends events and log records as JSON lines, each flushed as written."""

    def __init__(self, path: Path, level: int) -> None:
        super().__init__(level)
        self._io = threading.Lock()
        try:
            self.file: IO[str] = path.open("a", encoding="utf-8")
        except OSError as exc:
            why = "it is a directory" if path.is_dir() else (exc.strerror or str(exc)).lower()
            raise PromptTunerError(f"--log-file {path}: cannot write there: {why}",
                                   "give a file path in a folder you can write to") from None

    def write(self, data: dict[str, Any]) -> None:
        line = json.dumps({"ts": _now_iso(), **data}, ensure_ascii=False, default=str)
        with self._io:
            if not self.file.closed:
                self.file.write(line + "\n")
                self.file.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                data["exc"] = logging.Formatter().formatException(record.exc_info)
            self.write(data)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with self._io:
            self.file.close()
        super().close()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _ShownAsEvents(logging.Filter):
    """Drops the log records that repeat an event the display shows anyway: the engine logs each
    RunWarning's message, and the model stack logs each call that a ModelCalled event reports."""

    ECHOES = frozenset({("core.engine", "%s"),
                        ("core.models.stack", "%s: %d+%d tokens in %.3fs (%s)")})

    def filter(self, record: logging.LogRecord) -> bool:
        return (record.name, record.msg) not in self.ECHOES


# -- the display --------------------------------------------------------------------------------


class ProgressDisplay:
    """The ``on_event`` handler of ``tune``: renders events on ``err`` and to the log file.

    ``stop()`` ends the live panel (a reviewer calls it before asking the user something); the
    next event starts it again. ``close()`` ends everything, the log file included.
    """

    def __init__(self, err: Console, *, quiet: bool = False, verbosity: int = 0,
                 log_file: Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.err = err
        self.quiet = quiet
        self.verbosity = verbosity
        self.live_ok = err.is_interactive and not quiet
        self.clock = clock
        self.state = RunState()
        self._lock = threading.RLock()       # the state, between events and the refresh thread
        self._live: Live | None = None
        self._spinner = Spinner("dots")
        self._last_status = clock()
        self._unsaid = False                 # plain output: work done since the last status line
        root = logging.getLogger()
        self._filter = _ShownAsEvents()
        self._filtered = list(root.handlers)
        for handler in self._filtered:
            handler.addFilter(self._filter)
        self.log = JsonLinesLog(log_file, log_level(verbosity)) if log_file else None
        if self.log is not None:
            root.addHandler(self.log)

    def __call__(self, event: Event) -> None:
        if self.log is not None:
            self.log.write(event.to_json())
        now = self.clock()
        milestone = isinstance(event, PhaseStarted | RoundFinished | RunFinished)
        if milestone:
            self._plain_status(now, force=True)  # how the phase that ends went
        with self._lock:
            self.state.apply(event, now)
        if isinstance(event, ExampleScored | CandidateProposed | Progress):
            self._unsaid = True
        line = self._line_for(event)
        if line is not None:
            self.err.print(line, highlight=False, soft_wrap=not self.live_ok)
        if isinstance(event, RunFinished):
            self.stop()
        elif self.live_ok:
            self._show()
        else:
            self._plain_status(now)

    def _line_for(self, event: Event) -> str | None:
        """The permanent line an event gets at this verbosity, if any."""
        if isinstance(event, RunWarning):
            if event.level == "warning":
                return f"[yellow]warning:[/] {escape(event.message)}"
            return None if self.quiet else f"note: {escape(event.message)}"
        if self.quiet:
            return None
        s = self.state
        if isinstance(event, PhaseStarted):
            planned = f" ({s.total} {s.unit} planned)" if s.total else ""
            detail = f": {escape(s.detail)}" if s.detail else ""
            return f"[bold]{escape(s.label)}[/]{detail}{planned}"
        if isinstance(event, RoundFinished):
            return f"[bold]round {event.round}[/]: best {escape(s.best)}"
        if self.verbosity >= 1 and isinstance(event, CandidateProposed):
            origin = f" from {', '.join(event.parents)}" if event.parents else ""
            return f"  proposed {event.candidate_id} ({escape(event.operator)}{escape(origin)})"
        if self.verbosity >= 1 and isinstance(event, EvaluationDone):
            where = " held-out" if s.phase == "confirm" else ""
            return (f"  scored {event.candidate_id}{where}: {event.estimate.fmt()}"
                    + (" (partial)" if event.partial else ""))
        if self.verbosity >= 2 and isinstance(event, ModelCalled):
            model = event.model.split("@", 1)[0]  # the spec without its URL
            return (f"  call {escape(model)} {event.prompt_tokens}+{event.completion_tokens} "
                    f"tokens {event.latency_s:.2f}s {escape(event.finish_reason)}: "
                    f"{escape(repr(event.request_preview))} → {escape(repr(event.answer_preview))}")
        return None

    # -- plain output ---------------------------------------------------------------------------
    def status_line(self, now: float, ending: bool = False) -> str:
        """One line of where the run is: phase, work, spending, best, elapsed ("" before the
        first phase; no ETA when the phase is ``ending``)."""
        with self._lock:
            s = self.state
            if not s.phase:
                return ""
            best = [f"best {s.best}"] if s.best else []
            parts = [f"{s.label} {s.work(now, eta=not ending)}".strip(), *s.spending(), *best,
                     *s.elapsed()]
        return "  " + " · ".join(parts)

    def _plain_status(self, now: float, force: bool = False) -> None:
        if self.live_ok or self.quiet or not self._unsaid:
            return
        if force or now - self._last_status >= PLAIN_EVERY_S:
            self._last_status, self._unsaid = now, False
            line = self.status_line(now, ending=force)
            if line:
                self.err.print(line, markup=False, highlight=False, soft_wrap=True)

    # -- live panel -----------------------------------------------------------------------------
    def renderable(self) -> RenderableType:
        """The live panel: phase and detail, the bar with ETA, spending, best."""
        now = self.clock()
        with self._lock:
            s = self.state
            head = Text.assemble((s.label or "starting", "bold cyan"), "  ", (s.detail, "dim"))
            bar = Table.grid(padding=(0, 1))
            bar.add_row(ProgressBar(total=s.total or None, completed=s.done, width=40),
                        Text(s.work(now)))
            self._spinner.update(text=head)
            spent = Text(" · ".join([*s.spending(), *s.elapsed()]), style="dim")
            lines: list[RenderableType] = [bar, spent]
            if s.best:
                lines.append(Text.assemble("best ", (s.best, "bold green")))
        return Group(self._spinner, Padding(Group(*lines), (0, 0, 0, 2), expand=False))

    def _show(self) -> None:
        with self._lock:
            if self._live is not None or not self.state.phase:
                return
            self._live = Live(get_renderable=self.renderable, console=self.err, transient=True,
                              refresh_per_second=4, redirect_stdout=False)
            live = self._live
        live.start(refresh=True)

    @property
    def is_live(self) -> bool:
        return self._live is not None

    def stop(self) -> None:
        """End the live panel, if any (the next event starts it again)."""
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    def close(self) -> None:
        """End the display: the live panel, the log filter, the log file (flushed and closed)."""
        self.stop()
        for handler in self._filtered:
            handler.removeFilter(self._filter)
        self._filtered = []
        if self.log is not None:
            logging.getLogger().removeHandler(self.log)
            self.log.close()
            self.log = None


# -- console logging ----------------------------------------------------------------------------


class _PlainHandler(logging.Handler):
    """Log records as plain ``LEVEL logger: message`` lines, for output that is not a terminal."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{record.levelname.lower()} {record.name}: {record.getMessage()}"
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


def setup_logging(verbosity: int, err: Console) -> None:
    """Console logging at WARNING, or INFO with -v, DEBUG with -vv: through rich on a terminal,
    plain lines elsewhere."""
    level = log_level(verbosity)
    handler: logging.Handler = RichHandler(console=err, show_path=False) if err.is_interactive \
        else _PlainHandler(err)
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", handlers=[handler],
                        force=True)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
