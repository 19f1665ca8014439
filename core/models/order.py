"""The order of calls waiting for one GGUF file: which runs next, in which llama context, and
how much of its prompt it may take from that context's KV cache.

Which call runs next, and in which context: the pair whose cached tokens share the longest
prefix with the call's prompt (the candidates of a round share their instruction and
demonstrations, so each context keeps one candidate's prefix and computes only each example's
tail). Ties go to the oldest call; a call passed over ``MAX_PASSED`` times runs next. A call
whose prefix only a busy context holds waits for it (``waits``). How much of the cache a call
reuses (``reusable``) keeps every answer at temperature 0 that of the call alone on an empty
cache. ``core.models.slots`` runs the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Literal

import numpy as np

Scheduling = Literal["prefix", "fifo"]

# A waiting request goes next once this many younger ones have been picked ahead of it.
MAX_PASSED = 16

Outcome = tuple[dict[str, Any], int, float]


class _Job:
    """One pending call: its parameters, its prompt's tokens once known, and its future."""

    __slots__ = ("_tokens", "array", "future", "params", "passed", "scheduling", "seq")

    def __init__(self, params: dict[str, Any], scheduling: Scheduling, seq: int) -> None:
        self.params = params
        self.scheduling = scheduling
        self.seq = seq
        self.future: Future[Outcome] = Future()
        self._tokens: list[int] | None = None
        self.array: Any = np.empty(0, dtype=np.int64)  # the tokens, for fast prefix comparisons
        self.passed = 0

    @property
    def tokens(self) -> list[int] | None:
        """The prompt's tokens, once known (``array`` holds the same as a numpy array)."""
        return self._tokens

    @tokens.setter
    def tokens(self, tokens: list[int] | None) -> None:
        self._tokens = tokens
        self.array = np.asarray(tokens or (), dtype=np.int64)


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
        shared = [common_prefix(s, job.array) for s in states]
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


def waits(job: _Job, idle: Sequence[Any], busy: Sequence[Any]) -> bool:
    """Whether ``job`` should wait for a busy context rather than run in an idle one: a busy
    one holds most of its prompt and no idle one does. Running it now would compute that
    prefix again and evict another candidate's from an idle context, while the busy call (a
    sibling of the same candidate, most often) ends soon.

    Examples:
        >>> j = _Job({}, "prefix", 0)
        >>> j.tokens = [1, 2, 3, 4]
        >>> waits(j, [[9]], [[1, 2, 3]]), waits(j, [[1, 2, 3]], [[1, 2, 3]]), waits(j, [], [[5]])
        (True, False, False)
    """
    mine = job.array
    if not len(mine):
        return False
    best_busy = max((common_prefix(s, mine) for s in busy), default=0)
    best_idle = max((common_prefix(s, mine) for s in idle), default=0)
    return best_busy * 2 >= len(mine) and best_idle * 2 < len(mine)
