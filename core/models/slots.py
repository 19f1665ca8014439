"""Running one GGUF file for many concurrent calls: llama contexts ("slots") and their order.

A llama context is not thread-safe and holds one KV cache. The embedded adapter therefore keeps
``slots`` contexts over the same weights (the file is memory-mapped once by the OS, so a
context costs its KV cache, not another copy of the model) and runs up to ``parallel`` calls at
once, each alone in its own context on its own thread; llama.cpp releases the GIL while it
computes, so two calls use two cores.

Which call runs next, and in which context: the pair whose cached tokens share the longest
prefix with the call's prompt (the candidates of a round share their instruction and
demonstrations, so each context keeps one candidate's prefix and computes only each example's
tail). Ties go to the oldest call; a call passed over ``MAX_PASSED`` times runs next. A call
whose prefix only a busy context holds waits for it; a call that no context holds most of goes
to an empty context rather than evict another candidate's prefix, else to the least recently
used one.

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
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

Scheduling = Literal["prefix", "fifo"]

# A waiting request goes next once this many younger ones have been picked ahead of it.
MAX_PASSED = 16

Outcome = tuple[dict[str, Any], int, float]


class _Job:
    """One pending call: its parameters, its prompt's tokens once known, and its future."""

    __slots__ = ("array", "future", "params", "passed", "scheduling", "seq", "tokens")

    def __init__(self, params: dict[str, Any], scheduling: Scheduling, seq: int) -> None:
        self.params = params
        self.scheduling = scheduling
        self.seq = seq
        self.future: Future[Outcome] = Future()
        self.tokens: list[int] | None = None
        self.array: Any = None  # tokens as a numpy array, for fast prefix comparisons
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
    """How many leading tokens ``a`` and ``b`` share (lists or numpy arrays; arrays are fast).

    Examples:
        >>> common_prefix([1, 2, 3], [1, 2, 4, 5]), common_prefix([], [1]), common_prefix([7], [7])
        (2, 0, 1)
    """
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n


def pick_pair(jobs: Sequence[_Job], states: Sequence[Sequence[int]],
              max_passed: int = MAX_PASSED) -> tuple[_Job, int]:
    """The job to run next and the index of the state (context) to run it in.

    The pair whose tokens share the longest prefix wins, the oldest job among equals and then
    the first state; the oldest job outright when it asks for FIFO or has been passed over
    ``max_passed`` times (then in the state that shares most with it). ``jobs`` are in arrival
    order; every job older than the one picked counts one more pass.

    Examples:
        >>> a, b = _Job({}, "prefix", 0), _Job({}, "prefix", 1)
        >>> a.tokens, b.tokens = [1, 2, 3], [7, 8, 9]
        >>> job, state = pick_pair([a, b], [[1, 2], [7, 8, 9]])
        >>> job is b, state, a.passed
        (True, 1, 1)
    """
    if not states:
        raise ValueError("no state to run in")
    oldest = jobs[0]

    def best_state(job: _Job) -> tuple[int, int]:
        mine = job.array if job.array is not None else (job.tokens or ())
        shared = [common_prefix(s, mine) for s in states]
        top = max(shared)
        return top, shared.index(top)

    if oldest.scheduling == "fifo" or oldest.passed >= max_passed:
        chosen, (_, where) = oldest, best_state(oldest)
    else:
        scored = [(best_state(j), j) for j in jobs]
        (_, where), chosen = max(scored, key=lambda x: (x[0][0], -x[1].seq))
    for job in jobs:
        if job.seq < chosen.seq:
            job.passed += 1
    return chosen, where


def pick(jobs: Sequence[_Job], state: Sequence[int], max_passed: int = MAX_PASSED) -> _Job:
    """``pick_pair`` with one context: the job to run next against the tokens it holds."""
    return pick_pair(jobs, [state], max_passed)[0]


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


def _waits(job: _Job, idle: Sequence[Any], busy: Sequence[Any]) -> bool:
    """Whether ``job`` should wait for a busy context rather than run in an idle one: a busy
    one holds most of its prompt and no idle one does. Running it now would compute that
    prefix again and evict another candidate's from an idle context, while the busy call (a
    sibling of the same candidate, most often) ends soon.

    Examples:
        >>> j = _Job({}, "prefix", 0)
        >>> j.tokens = [1, 2, 3, 4]
        >>> _waits(j, [[9]], [[1, 2, 3]]), _waits(j, [[1, 2, 3]], [[1, 2, 3]]), _waits(j, [], [[5]])
        (True, False, False)
    """
    mine = job.array if job.array is not None else (job.tokens or ())
    if not len(mine):
        return False
    best_busy = max((common_prefix(s, mine) for s in busy), default=0)
    best_idle = max((common_prefix(s, mine) for s in idle), default=0)
    return best_busy * 2 >= len(mine) and best_idle * 2 < len(mine)


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

    def tokens(self) -> list[int]:
        llama = self.llama
        cached: list[int] = llama.input_ids[: llama.n_tokens].tolist()
        return cached

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
        off waiting for a busy context that holds most of its prompt (see ``_waits``)."""
        jobs = self._pending
        idle = [s for s in self._slots if not s.busy]
        for job in jobs:  # known before the pick, even for a job alone: the pick says where
            if job.tokens is None:
                job.tokens = self.prompt_tokens(job.params)
                job.array = np.asarray(job.tokens, dtype=np.int64)
        states = [s.held() for s in idle]
        ready = list(jobs)
        if jobs[0].scheduling != "fifo":
            held = [s.held() for s in self._slots if s.busy]
            ready = [j for j in jobs if not _waits(j, states, held)]
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
        tokens = job.tokens if job.tokens is not None else self.prompt_tokens(job.params)
        if tokens:
            common = common_prefix(slot.tokens(), tokens)
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
