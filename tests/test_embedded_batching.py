"""The embedded model under concurrent calls: prefix-aware order, same answers, honest counts.

The real-model tests run SmolLM2-135M on one thread (see test_real_models.py) and are marked
``slow``; the ordering rule itself is tested without a model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from core.models import embedded as embedded_module
from core.models.base import Message, Request
from core.models.embedded import (
    MAX_PASSED,
    EmbeddedAdapter,
    _Job,
    common_prefix,
    pick,
    reusable,
)

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


def job(seq: int, tokens: list[int], scheduling: embedded_module.Scheduling = "prefix") -> _Job:
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
    model = EmbeddedAdapter(n_ctx=N_CTX, n_threads=1)
    yield model
    state = embedded_module._loaded.pop((str(model.path), N_CTX, 1), None)
    if state is not None:
        state.executor.shutdown(wait=True)
        state.llama.close()


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
        state.llama.reset()  # the worker is idle between awaited calls
        alone.append(await adapter.send(request))
    assert all(c.cached_prompt_tokens == 0 for c in alone)  # nothing reused: all computed

    state.llama.reset()
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
async def test_computed_prompt_tokens_are_counted_exactly(adapter: EmbeddedAdapter) -> None:
    first, second = interleaved()[0], interleaved()[5]  # same candidate, next example
    # Its third token is where a one-row recomputation of the last prompt token changes the
    # answer ("The movie was" instead of "The movie is").
    second = replace(second, max_tokens=3)
    state = adapter._get()
    tokens = [state.executor.prompt_tokens(params(r)) for r in (first, second)]
    shared = common_prefix(*tokens)
    assert 0 < shared < len(tokens[1])

    state.llama.reset()
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

    state.llama.reset()
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
