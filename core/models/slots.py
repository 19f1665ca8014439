"""Running one GGUF file for many concurrent calls: llama contexts ("slots") and their threads.

A llama context is not thread-safe and holds one KV cache. The embedded adapter therefore keeps
``slots`` contexts over the same weights (the file is memory-mapped once by the OS, so a
context costs its KV cache, not another copy of the model) and runs up to ``parallel`` calls at
once, each alone in its own context on its own thread; llama.cpp releases the GIL while it
computes, so two calls use two cores. Which call runs next and where is ``core.models.order``'s.

Threads: the calls running at once never use more than the file's ``n_threads`` together. A
call alone gets all of them; one that arrives meanwhile waits for it, since llama.cpp's threads
spin at every step while they wait for each other, and a third thread on two cores slowed a
real tune's calls two to three times over.

Every call still computes exactly what it would on an empty cache (see ``reusable``), so the
answers at temperature 0 are those of one-at-a-time decoding, whatever the order or the context.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from .order import (
    MAX_PASSED,
    Outcome,
    Scheduling,
    _Job,
    common_prefix,
    pick,
    pick_pair,
    reusable,
    waits,
)

__all__ = ["MAX_PASSED", "Outcome", "Scheduler", "Scheduling", "_Job", "common_prefix", "pick",
           "pick_pair", "reusable", "waits"]

log = logging.getLogger(__name__)


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


class _Slot:
    """One llama context over the shared weights: its KV cache and what is known of it."""

    __slots__ = ("busy", "clean", "evaluated", "last_used", "llama", "threads")

    def __init__(self, llama: Any, threads: int) -> None:
        self.llama = llama
        self.busy = False
        self.clean = 0  # leading KV cells computed as a prompt, so safe to reuse (see reusable)
        self.evaluated: list[int] = []
        self.last_used = 0
        self.threads = threads
        original_eval = llama.eval

        def counting_eval(tokens: Sequence[int]) -> Any:
            # Llama.generate's first eval of a call is the prompt's uncached suffix.
            self.evaluated.append(len(tokens))
            return original_eval(tokens)

        llama.eval = counting_eval

    def held(self) -> Any:
        """The tokens its KV cache holds, as a numpy array (a copy: a busy context's call
        may be writing them; a stale read only costs the order some speed)."""
        llama = self.llama
        return np.array(llama.input_ids[: llama.n_tokens])


def _set_threads(slot: _Slot, threads: int) -> None:
    if slot.threads == threads:
        return
    try:
        import llama_cpp

        llama_cpp.llama_set_n_threads(slot.llama.ctx, threads, threads)
        slot.threads = threads
    except Exception:  # a test double or an old binding: keep the threads it has
        log.debug("cannot set llama threads", exc_info=True)


class Scheduler:
    """The calls waiting for one GGUF file, the contexts that run them, and their threads.

    ``contexts`` are opened by the caller, in its own thread: llama-cpp-python silences a load
    by pointing the process's file descriptors 1 and 2 at /dev/null for its duration, so a
    context opened in a worker thread would swallow whatever the main thread (a CLI's report,
    a language server's replies on stdout) wrote meanwhile. ``n_threads`` is the machine's
    share for this file: a call that runs alone gets all of them, calls side by side split them.
    """

    def __init__(self, contexts: Sequence[Any], *, parallel: int = 1, n_threads: int = 1,
                 max_passed: int = MAX_PASSED) -> None:
        if not contexts:
            raise ValueError("a scheduler needs at least one llama context")
        self.parallel = max(1, min(parallel, len(contexts)))
        self.n_threads = max(1, n_threads)
        self.max_passed = max_passed
        self.llama = contexts[0]  # tokenizes prompts for the order (read-only, see prompt_tokens)
        self._slots: list[_Slot] = [_Slot(llama, self.n_threads) for llama in contexts]
        self._threads_used = 0  # by the calls running now: never more than n_threads
        self._uses = 0
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._seq = 0
        self._closed = False
        self._idle_workers = set(range(self.parallel))
        self._workers = [threading.Thread(target=self._loop, args=(i,), name=f"llama-{i}",
                                          daemon=True) for i in range(self.parallel)]
        for worker in self._workers:
            worker.start()

    @property
    def contexts(self) -> int:
        """How many llama contexts it runs calls in."""
        return len(self._slots)

    def submit(self, params: dict[str, Any], scheduling: Scheduling = "prefix") -> Future[Outcome]:
        """Queue one ``create_chat_completion`` call; its future gives the response, how many
        prompt tokens were computed, and the seconds the call ran (not counting its wait)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the embedded model has been unloaded")
            job = _Job(params, scheduling, self._seq)
            self._seq += 1
            self._pending.append(job)
            self._cond.notify_all()  # the worker that may take it, not any one
        return job.future

    def reset(self) -> None:
        """Empty every context's KV cache (only while no call runs: for tests and benches)."""
        with self._cond:
            for slot in self._slots:
                slot.llama.reset()
                slot.clean = 0

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking requests; the threads finish those queued, then end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            for worker in self._workers:
                if worker is not threading.current_thread():
                    worker.join()

    def close(self) -> None:
        """Shut down and free every context."""
        self.shutdown(wait=True)
        for slot in self._slots:
            close = getattr(slot.llama, "close", None)
            if close is not None:
                close()
        self._slots.clear()

    def prompt_tokens(self, params: dict[str, Any]) -> list[int]:
        """The tokens ``create_chat_completion(**params)`` would evaluate, found by running its
        chat handler against a dry run; [] if that cannot be known (then the request is simply
        not preferred). Only for ordering: a wrong guess costs speed, never a different answer.
        The dry run only reads the model's vocabulary and template, so it may run while the
        same context computes another call."""
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

    # -- the worker threads ------------------------------------------------------------------

    def _loop(self, me: int) -> None:
        # The lowest-numbered idle worker takes the next call: a call alone keeps running on
        # the same thread, whose OpenMP team (llama.cpp's threads) is the one already awake;
        # another thread's team would spin beside it for nothing.
        while True:
            with self._cond:
                while True:
                    if self._closed and not self._pending:
                        return  # closed and drained
                    if self._may_start(me):
                        try:
                            choice = self._choose()
                        except Exception:  # a bug in the ordering must not stop the model
                            log.exception("embedded scheduler: falling back to arrival order")
                            choice = self._pending[0], self._least_recent()
                        if choice is not None:
                            break
                    self._cond.wait()
                job, slot = choice
                self._idle_workers.discard(me)
                threads = self._share()
                self._pending.remove(job)
                self._threads_used += threads
                slot.busy = True
            try:
                if job.future.set_running_or_notify_cancel():
                    _set_threads(slot, threads)
                    self._run(slot, job)
            except BaseException as exc:  # _run hands the call's own errors over; not these
                if not job.future.done():
                    job.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                log.exception("embedded scheduler: a call failed outside the model")
            finally:
                with self._cond:
                    self._threads_used -= threads
                    self._idle_workers.add(me)
                    slot.busy = False
                    self._uses += 1
                    slot.last_used = self._uses
                    self._cond.notify_all()

    def _may_start(self, me: int) -> bool:
        """Under the lock: whether worker ``me`` takes a call now. Only with a thread to spare:
        llama.cpp's threads wait for each other at every step by spinning, so one thread more
        than there are cores (a call on two threads and one beside it on a third, on two
        cores) slows both calls several times over; a call that arrives while another has all
        the threads waits for it."""
        return (bool(self._pending) and min(self._idle_workers) == me
                and self._threads_used < self.n_threads)

    def _share(self) -> int:
        """Under the lock: threads for a call starting now, the free threads split among the
        calls that will start beside it (those waiting, up to the idle workers)."""
        free = self.n_threads - self._threads_used
        side_by_side = min(len(self._pending), len(self._idle_workers) + 1, free)
        return max(1, free // max(1, side_by_side))

    def _least_recent(self) -> _Slot:
        return min((s for s in self._slots if not s.busy), key=lambda s: s.last_used)

    def _choose(self) -> tuple[_Job, _Slot] | None:
        """Under the lock: the next job and the idle context to run it in (fewer calls run
        than there are contexts, so one is idle), or None when every waiting job is better
        off waiting for a busy context that holds most of its prompt (see ``waits``)."""
        jobs = self._pending
        idle = [s for s in self._slots if not s.busy]
        for job in jobs:  # known before the pick, even for a job alone: the pick says where
            if job.tokens is None:
                job.tokens = self.prompt_tokens(job.params)
        states = [s.held() for s in idle]
        ready = list(jobs)
        held = [s.held() for s in self._slots if s.busy]
        if held and jobs[0].scheduling != "fifo":  # nothing busy: nothing to wait for
            ready = [j for j in jobs if not waits(j, states, held)]
            if not ready:
                return None
        job, where = pick_pair(ready, states, self.max_passed)
        if job.tokens and common_prefix(states[where], job.array) * 2 >= len(job.tokens):
            return job, idle[where]  # most of its prompt is cached there
        # Little to reuse: an empty context, else the least recently used one; the others
        # keep their prefixes for the calls that share them.
        empty = [s for s, state in zip(idle, states, strict=True) if not len(state)]
        return job, empty[0] if empty else self._least_recent()

    def _run(self, slot: _Slot, job: _Job) -> None:
        llama = slot.llama
        if job.tokens is None:  # ordered without them (the order's fallback)
            job.tokens = self.prompt_tokens(job.params)
        tokens = job.tokens
        if tokens:
            common = common_prefix(slot.held(), job.array)
            keep = reusable(min(common, slot.clean), len(tokens), llama.n_batch)
            if keep < llama.n_tokens:
                llama.n_tokens = keep  # Llama.generate drops the KV cells past it
        slot.clean = 0  # until this call has rewritten the cache
        slot.evaluated.clear()
        started = time.perf_counter()
        try:
            out = llama.create_chat_completion(**job.params)
        except Exception as exc:  # handed to the caller
            job.future.set_exception(exc)
            return
        computed = slot.evaluated[0] if slot.evaluated else 0
        if tokens and llama.input_ids[: len(tokens)].tolist() == tokens:
            # Prompt cells, each computed in a batch of two or more rows, except a last chunk
            # of one row (a prompt one longer than a multiple of n_batch).
            one_row = computed % llama.n_batch == 1
            slot.clean = len(tokens) - 1 if one_row else len(tokens)
        job.future.set_result((out, computed, time.perf_counter() - started))
