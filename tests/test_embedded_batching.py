"""The embedded model under concurrent calls: prefix-aware order, same answers, honest counts.

The real-model tests run SmolLM2-135M on one thread (see test_real_models.py) and are marked
``slow``; the ordering rule itself is tested without a model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from core.models import slots as slots_module
from core.models.base import Message, Request
from core.models.embedded import EmbeddedAdapter
from core.models.order import MAX_PASSED, _Job, common_prefix, pick, pick_pair, reusable

N_CTX = 1024  # its own loaded copy: test_real_models.py frees the 2048 one it uses

INSTRUCTIONS = [
    "Classify the review. Answer positive or negative.",
    "Is this review positive or negative? One word.",
    "Say the sentiment of the review in one word.",
    "Label the review: positive or negative.",
    "You judge movie reviews. Reply with positive or negative only.",
]
DEMOS = ("Review: A warm, funny film.\nSentiment: positive\n\n"
         "Review: Two hours I will never get back.\nSentiment: negative\n\n")
REVIEWS = ["A delight from start to finish.", "Boring and far too long.",
           "The best film this year.", "I walked out halfway.", "Clever and moving.",
           "Wooden acting, dull plot.", "Charming and full of surprises.",
           "A waste of a great cast.", "Sharp and very funny.", "It made no sense."]


def interleaved() -> list[Request]:
    """5 candidates × 10 examples, in the order an engine scoring them together sends them."""
    return [Request(messages=(Message("system", instruction),
                              Message("user", f"{DEMOS}Review: {review}\nSentiment:")),
                    max_tokens=2, temperature=0.0)
            for review in REVIEWS for instruction in INSTRUCTIONS]


def job(seq: int, tokens: list[int], scheduling: slots_module.Scheduling = "prefix") -> _Job:
    j = _Job({}, scheduling, seq)
    j.tokens = tokens
    return j


# -- the ordering rule, no model --------------------------------------------------------------


def test_pick_prefers_the_longest_shared_prefix_then_the_oldest() -> None:
    jobs = [job(0, [1, 9]), job(1, [1, 2, 3, 7]), job(2, [1, 2, 3, 8]), job(3, [1, 2])]
    assert pick(jobs, [1, 2, 3, 4]) is jobs[1]  # 3 shared, and older than jobs[2]
    assert (jobs[0].passed, jobs[1].passed, jobs[2].passed, jobs[3].passed) == (1, 0, 0, 0)
    assert pick(jobs, []) is jobs[0]  # nothing cached: arrival order
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2


def test_a_request_passed_over_too_often_goes_next() -> None:
    old = job(0, [5])
    jobs = [old, job(1, [1, 2])]
    for _ in range(MAX_PASSED):
        assert pick(jobs, [1, 2]) is jobs[1]
    assert old.passed == MAX_PASSED
    assert pick(jobs, [1, 2]) is old


def test_fifo_scheduling_takes_arrival_order() -> None:
    jobs = [job(0, [9], "fifo"), job(1, [1, 2], "fifo")]
    assert pick(jobs, [1, 2]) is jobs[0]


def test_pick_pair_takes_the_context_that_shares_most() -> None:
    jobs = [job(0, [1, 2, 9]), job(1, [5, 6, 7, 8])]
    chosen, where = pick_pair(jobs, [[1, 2, 3], [5, 6, 7], []])
    assert chosen is jobs[1] and where == 1  # 3 shared with the second context
    assert jobs[0].passed == 1
    fifo = [job(0, [5, 6], "fifo"), job(1, [1, 2, 3], "fifo")]
    assert pick_pair(fifo, [[1, 2, 3], [5, 6]]) == (fifo[0], 1)  # oldest, where it shares most


class FakeLlama:
    """Just enough of llama_cpp.Llama for the scheduler: a prompt is the message's characters as
    token ids; the "KV cache" is input_ids[:n_tokens]; eval records what it computes."""

    n_batch = 512

    def __init__(self) -> None:
        import numpy as np

        self.input_ids = np.zeros(4096, dtype=np.intc)
        self.n_tokens = 0
        self.computed: list[int] = []

    def eval(self, tokens: list[int]) -> None:
        self.computed.append(len(tokens))

    def reset(self) -> None:
        self.n_tokens = 0

    def create_chat_completion(self, messages: list[dict[str, str]]) -> dict[str, object]:
        tokens = [ord(c) for c in messages[0]["content"]]
        start = self.n_tokens
        self.eval(tokens[start:])
        self.input_ids[: len(tokens)] = tokens
        self.n_tokens = len(tokens)
        return {"text": messages[0]["content"]}


class FakeScheduler(slots_module.Scheduler):
    def prompt_tokens(self, params: dict[str, object]) -> list[int]:
        return [ord(c) for c in params["messages"][0]["content"]]  # type: ignore[index]


def test_each_candidate_keeps_a_context_of_its_own() -> None:
    """Two candidates interleaved over three contexts: each keeps one candidate's prefix (the
    third is never needed), so after the first call of each only the example's tail is
    computed."""
    contexts = [FakeLlama(), FakeLlama(), FakeLlama()]
    scheduler = FakeScheduler(contexts, parallel=1, n_threads=1)
    a, b = "A" * 40, "B" * 40
    try:
        futures = [scheduler.submit({"messages": [{"content": prefix + tail}]})
                   for tail in ("1x", "2x", "3x", "4x") for prefix in (a, b)]
        results = [f.result(timeout=10) for f in futures]
    finally:
        scheduler.close()
    assert [r[0]["text"] for r in results] == [p + t for t in ("1x", "2x", "3x", "4x")
                                               for p in (a, b)]
    assert [len(c.computed) for c in contexts] == [4, 4, 0]  # one candidate per context
    computed = sorted(r[1] for r in results)
    assert computed == [2] * 6 + [42] * 2  # each prefix computed once, then two tokens a call


class GatedLlama(FakeLlama):
    """A FakeLlama whose calls run until the test lets them finish, and that records the
    threads in use (the scheduler's ``_set_threads`` is patched to set ``threads``)."""

    def __init__(self, log: list[int], in_use: list[int], gate: threading.Event) -> None:
        super().__init__()
        self.threads, self._log, self._in_use, self._gate = 0, log, in_use, gate

    def create_chat_completion(self, messages: list[dict[str, str]]) -> dict[str, object]:
        self._in_use[0] += self.threads
        self._log.append(self._in_use[0])
        try:
            assert self._gate.wait(timeout=10)
            return super().create_chat_completion(messages)
        finally:
            self._in_use[0] -= self.threads


def test_calls_side_by_side_never_use_more_threads_than_given(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that starts alone gets both threads; one arriving meanwhile waits for it (on two
    cores a third spinning thread slowed a real tune's calls 2-3x), then calls that wait
    together share the threads."""
    def set_threads(slot: slots_module._Slot, threads: int) -> None:
        slot.threads = slot.llama.threads = threads

    monkeypatch.setattr(slots_module, "_set_threads", set_threads)
    log: list[int] = []
    in_use = [0]
    gate = threading.Event()
    contexts = [GatedLlama(log, in_use, gate) for _ in range(4)]
    scheduler = FakeScheduler(contexts, parallel=2, n_threads=2)
    try:
        first = scheduler.submit({"messages": [{"content": "alone"}]})
        deadline = time.monotonic() + 10
        while not log and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log == [2]  # alone: both threads
        later = [scheduler.submit({"messages": [{"content": f"later {i}"}]}) for i in range(3)]
        time.sleep(0.2)
        assert log == [2] and not any(f.running() or f.done() for f in later)  # waits
        gate.set()
        for future in [first, *later]:
            future.result(timeout=10)
    finally:
        gate.set()
        scheduler.close()
    assert max(log) <= 2 and len(log) == 4


def prime(llama: FakeLlama, text: str) -> None:
    tokens = [ord(c) for c in text]
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)


def test_a_call_alone_runs_where_its_prefix_is_cached() -> None:
    """A lone waiting call is not compared with the contexts before its tokens are known (it
    went to the least recently used context and computed its whole prompt again)."""
    contexts = [FakeLlama(), FakeLlama(), FakeLlama()]
    scheduler = FakeScheduler(contexts, parallel=1, n_threads=1)
    try:
        for text in ("A" * 40 + "1x", "B" * 40 + "1x", "B" * 40 + "2x"):  # one at a time
            result = scheduler.submit({"messages": [{"content": text}]}).result(timeout=10)
    finally:
        scheduler.close()
    assert result[1] == 2 and contexts[1].computed == [42, 2]  # in B's context: the tail


def test_a_call_waits_for_the_busy_context_that_holds_its_prefix() -> None:
    """Rather than compute its prefix again in an idle context (evicting another candidate's),
    a call waits for the busy context that holds most of its prompt; a call that no busy
    context helps runs at once."""
    contexts = [FakeLlama(), FakeLlama(), FakeLlama()]
    prime(contexts[0], "A" * 40 + "1x")
    prime(contexts[1], "B" * 40 + "1x")
    scheduler = FakeScheduler(contexts, parallel=2, n_threads=2)
    try:
        with scheduler._cond:  # the workers wait for this lock: the choice is ours to watch
            a_slot, _, empty = scheduler._slots
            a_slot.busy = True
            waiting = _Job({"messages": [{"content": "A" * 40 + "2x"}]}, "prefix", 0)
            scheduler._pending.append(waiting)
            assert scheduler._choose() is None  # waits for A's context
            other = _Job({"messages": [{"content": "C" * 40}]}, "prefix", 1)
            scheduler._pending.append(other)
            assert scheduler._choose() == (other, empty)  # nothing to wait for: runs now
            scheduler._pending.remove(other)
            a_slot.busy = False
            assert scheduler._choose() == (waiting, a_slot)
            scheduler._pending.clear()
    finally:
        scheduler.close()


def test_reuse_never_leaves_a_one_row_batch_that_a_cold_run_would_not_have() -> None:
    for length in range(2, 1100):
        cold_one_row = length % 512 == 1
        for cached in (0, 1, 2, 511, 512, 513, length - 2, length - 1, length):
            keep = reusable(cached, length, 512)
            assert 0 <= keep <= min(max(cached, 0), length - 1)
            last_chunk = (length - keep) % 512 or 512
            assert (last_chunk == 1) == cold_one_row, (cached, length, keep)
            if cold_one_row:
                assert keep % 512 == 0  # whole chunks: the same chunks as a cold run
    assert reusable(300, 302, 512) == 300  # and otherwise reuse all it can


# -- the real model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter() -> Iterator[EmbeddedAdapter]:
    model = EmbeddedAdapter(n_ctx=N_CTX, n_threads=1, slots=1)
    yield model
    model.unload()


def params(request: Request) -> dict[str, object]:
    return {"messages": [{"role": m.role, "content": m.content} for m in request.messages]}


@pytest.mark.slow
async def test_concurrent_prefix_scheduled_answers_equal_one_at_a_time(
    adapter: EmbeddedAdapter
) -> None:
    requests = interleaved()
    state = adapter._get()

    alone = []
    for request in requests:  # each on an empty KV cache, as a fresh adapter would run it
        state.executor.reset()  # the worker is idle between awaited calls
        alone.append(await adapter.send(request))
    assert all(c.cached_prompt_tokens == 0 for c in alone)  # nothing reused: all computed

    state.executor.reset()
    together = await asyncio.gather(*(adapter.send(r) for r in requests))

    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.prompt_tokens for c in together] == [c.prompt_tokens for c in alone]
    assert len({c.text for c in alone}) > 1  # the answers depend on the prompt
    sent = sum(c.prompt_tokens for c in together)
    computed = sum(c.prompt_tokens - c.cached_prompt_tokens for c in together)
    # Interleaved in arrival order, consecutive requests share only the chat header; taken
    # prefix first, each candidate's instruction and demonstrations are computed about once.
    assert computed < sent * 0.5, (computed, sent)


@pytest.mark.slow
async def test_answers_in_several_contexts_side_by_side_equal_one_at_a_time(
    adapter: EmbeddedAdapter
) -> None:
    """Must-show of the speed issue: 50 requests at temperature 0, run concurrently in up to
    four contexts two at a time (two threads), answer exactly as each alone on an empty cache."""
    requests = interleaved()
    state = adapter._get()
    alone = []
    for request in requests:
        state.executor.reset()
        alone.append(await adapter.send(request))

    wide = EmbeddedAdapter(n_ctx=N_CTX, n_threads=2, slots=4, parallel=2)
    try:
        together = await asyncio.gather(*(wide.send(r) for r in requests))
        used = sum(1 for slot in wide._get().executor._slots if slot.last_used)
    finally:
        wide.unload()

    assert len(requests) == 50
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.prompt_tokens for c in together] == [c.prompt_tokens for c in alone]
    assert len({c.text for c in alone}) > 1
    assert used == 4  # five candidates: every context was used
    sent = sum(c.prompt_tokens for c in together)
    computed = sum(c.prompt_tokens - c.cached_prompt_tokens for c in together)
    # Five candidates over four contexts: each context keeps about one candidate's prefix.
    assert computed < sent * 0.4, (computed, sent)


@pytest.mark.slow
async def test_computed_prompt_tokens_are_counted_exactly(adapter: EmbeddedAdapter) -> None:
    first, second = interleaved()[0], interleaved()[5]  # same candidate, next example
    # Its third token is where a one-row recomputation of the last prompt token changes the
    # answer ("The movie was" instead of "The movie is").
    second = replace(second, max_tokens=3)
    state = adapter._get()
    tokens = [state.executor.prompt_tokens(params(r)) for r in (first, second)]
    shared = common_prefix(*tokens)
    assert 0 < shared < len(tokens[1])

    state.executor.reset()
    a = await adapter.send(first)
    b = await adapter.send(second)
    again = await adapter.send(second)

    assert (a.prompt_tokens, b.prompt_tokens) == (len(tokens[0]), len(tokens[1]))
    assert a.cached_prompt_tokens == 0  # a first request computes all it sends
    assert b.cached_prompt_tokens == shared  # then only what follows the shared prefix
    # The same prompt again: the adapter recomputes its last two tokens (llama-cpp-python alone
    # would recompute one, and a one-row batch can change a greedy answer: this one did).
    assert again.cached_prompt_tokens == again.prompt_tokens - 2
    assert again.text == b.text

    state.executor.reset()
    assert (await adapter.send(second)).text == b.text  # alone, on an empty cache


def test_the_settings_choose_the_order_of_waiting_calls() -> None:
    """``embedded.scheduling`` reaches the adapter; anything but prefix or fifo is refused."""
    from core import ConfigError, Secrets, load_settings
    from core.models.registry import build_adapter

    for order in ("prefix", "fifo"):
        settings = load_settings(flags={"embedded.scheduling": order}).settings
        adapter = build_adapter("embedded", settings, Secrets())
        assert isinstance(adapter, EmbeddedAdapter) and adapter._scheduling == order
    with pytest.raises(ConfigError):
        load_settings(flags={"embedded.scheduling": "random"})
    settings = load_settings(flags={"embedded.slots": "3", "embedded.parallel": "2"}).settings
    adapter = build_adapter("embedded", settings, Secrets())
    assert isinstance(adapter, EmbeddedAdapter)
    assert (adapter._slots, adapter._parallel) == (3, 2)
    with pytest.raises(ConfigError):
        load_settings(flags={"embedded.slots": "0"})


def test_every_context_is_opened_in_the_loading_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-cpp-python points fds 1 and 2 at /dev/null while it opens a context: opened by a
    worker thread during a run, it swallowed the CLI's whole report (exit 0, empty stdout).
    All contexts are opened at load, by the caller, and none later."""
    import threading
    from pathlib import Path

    from core.models import embedded

    opened: list[str] = []

    def fake_open(path: Path, n_ctx: int, n_threads: int) -> FakeLlama:
        opened.append(threading.current_thread().name)
        return FakeLlama()

    monkeypatch.setattr(embedded, "_open", fake_open)
    monkeypatch.setattr(slots_module.Scheduler, "prompt_tokens", FakeScheduler.prompt_tokens)
    state = embedded._load(Path("/nowhere/model.gguf"), 512, 2, 3, 2)
    try:
        assert opened == [threading.current_thread().name] * 3
        futures = [state.executor.submit({"messages": [{"content": f"{c * 30}{i}"}]})
                   for i in range(4) for c in "abcd"]
        for f in futures:
            f.result(timeout=10)
        assert len(opened) == 3  # four prefixes, three contexts: reused, never a fourth opened
    finally:
        embedded._loaded.pop(("/nowhere/model.gguf", 512, 2, 3, 2), None)
        state.executor.close()
