"""How fast is the embedded model under concurrent calls: one context in arrival order against
prefix-first order and several contexts side by side?

Runs the same requests through the embedded adapter per concurrency level, back to back, in each
mode (``MODES``): ``plain``, the adapter as it was before contexts and order existed (one
``Llama`` on one worker thread, llama-cpp-python reusing whatever prefix its cache holds);
``before``, the same through the scheduler (one context, arrival order, every answer that of an
empty cache); ``prefix``, one context taking calls longest-shared-prefix first; ``slots`` (the default),
up to four contexts, one call per thread side by side, each call where its prefix is cached.
Every mode gets the same threads. The KV caches are emptied before each measurement. Two
workloads:

- ``short``: distinct short prompts, answers up to 16 tokens;
- ``shared``: one-word answers after a ~300-token prompt: 4 candidate instructions × the same 8
  demonstrations × many examples, submitted interleaved (c1e1, c2e1, c3e1, c4e1, c1e2, …).

It prints calls/s, prompt tokens sent and computed, the ratio to the first mode and whether every
answer equals ``before``'s (it exits 1 if one of another mode does not; ``plain`` may differ,
since it reuses a cached prompt down to its last token: see ``core.models.order.reusable``).

    python bench/embedded.py                           # concurrency 1,2,4,8; 2 threads
    python bench/embedded.py --concurrency 4 --examples 4
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core import Completion, Message, Request
from core.models.embedded import EmbeddedAdapter, _open, default_model_path

TOPICS = ["rain", "bread", "a violin", "the moon", "chess", "a river", "coffee", "winter",
          "a lighthouse", "tigers", "glass", "a library", "salt", "thunder", "a bicycle", "honey"]

INSTRUCTIONS = [
    "Classify the sentiment of the movie review. Answer with one word: positive or negative.",
    "Read the review and say whether the reviewer liked the film. Reply positive or negative.",
    "You are a sentiment classifier. Output exactly one word, positive or negative.",
    "Decide if this review is positive or negative. Give only the label.",
]
DEMOS = [
    ("A warm, funny film with a cast that clearly loved making it.", "positive"),
    ("I checked my watch every ten minutes and regretted the ticket.", "negative"),
    ("The photography is stunning and the final scene stayed with me for days.", "positive"),
    ("Flat characters, a plot full of holes, and a score that never stops shouting.", "negative"),
    ("An honest, gentle story told with great care and a lot of heart.", "positive"),
    ("Two hours of loud noise with nothing to say and no one to care about.", "negative"),
    ("The lead gives the performance of her career; I laughed and I cried.", "positive"),
    ("Lazy writing, cheap effects and an ending that insults the audience.", "negative"),
]
REVIEWS = [
    "A delight from start to finish.", "Boring, slow and far too long.",
    "The best thing I have seen this year.", "I walked out halfway through.",
    "Clever, moving and beautifully acted.", "A mess of a film with no redeeming features.",
    "Charming and full of surprises.", "Dull dialogue and wooden acting.",
    "It made me want to watch it again right away.", "A waste of a talented cast.",
    "Smart, sharp and very funny.", "The plot made no sense at all.",
]


def short_requests(n: int) -> list[Request]:
    return [Request(messages=(Message("user", f"Write one sentence about {TOPICS[i % len(TOPICS)]}"
                                              f" (#{i})."),), max_tokens=16)
            for i in range(n)]


def shared_requests(examples: int) -> list[Request]:
    demos = "\n\n".join(f"Review: {text}\nSentiment: {label}" for text, label in DEMOS)
    out = []
    for e in range(examples):  # interleaved, as an engine evaluating 4 candidates at once
        for instruction in INSTRUCTIONS:
            user = f"{demos}\n\nReview: {REVIEWS[e % len(REVIEWS)]}\nSentiment:"
            out.append(Request(messages=(Message("system", instruction), Message("user", user)),
                               max_tokens=2))
    return out


@dataclass
class Measure:
    seconds: float
    sent: int
    computed: int
    texts: list[str]

    def rate(self, n: int) -> float:
        return n / self.seconds


MODES: dict[str, dict[str, Any]] = {
    # The adapter when the speed issue was filed (see PlainAdapter).
    "plain": {},
    # The adapter before this bench: one context, one call at a time, in arrival order.
    "before": {"scheduling": "fifo", "slots": 1, "parallel": 1},
    # One context, waiting calls taken longest-shared-prefix first.
    "prefix": {"scheduling": "prefix", "slots": 1, "parallel": 1},
    # The default: up to 4 contexts, one call per thread side by side, prefix first.
    "slots": {"scheduling": "prefix", "slots": 4, "parallel": None},
}


class PlainAdapter:
    """The embedded adapter as it was when the speed issue was filed: one ``Llama``, one call
    at a time on one worker thread, in arrival order, llama-cpp-python's own prefix reuse."""

    def __init__(self, n_ctx: int, n_threads: int) -> None:
        self.llama = _open(default_model_path(), n_ctx, n_threads)
        self.model = default_model_path().name
        self._pool = ThreadPoolExecutor(1)
        self._evaluated: list[int] = []
        original = self.llama.eval

        def counting_eval(tokens: Any) -> Any:
            self._evaluated.append(len(tokens))
            return original(tokens)

        self.llama.eval = counting_eval

    def _run(self, request: Request) -> Completion:
        self._evaluated.clear()
        out = self.llama.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            max_tokens=request.max_tokens, temperature=request.temperature,
            top_p=request.top_p, repeat_penalty=1.0, seed=0)
        usage = out["usage"]
        computed = self._evaluated[0] if self._evaluated else 0
        return Completion(text=out["choices"][0]["message"]["content"] or "",
                          prompt_tokens=usage["prompt_tokens"],
                          completion_tokens=usage["completion_tokens"], latency_s=0.0,
                          cached_prompt_tokens=usage["prompt_tokens"] - computed)

    async def send(self, request: Request) -> Completion:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, request)

    async def warm_and_reset(self) -> None:
        await self.send(Request(messages=(Message("user", "hi"),), max_tokens=1))
        self.llama.reset()

    def unload(self) -> None:
        self._pool.shutdown()
        self.llama.close()


async def measure(adapter: EmbeddedAdapter | PlainAdapter, requests: list[Request],
                  concurrency: int) -> Measure:
    if isinstance(adapter, PlainAdapter):
        await adapter.warm_and_reset()
    else:
        state = adapter._get()
        await asyncio.wrap_future(state.executor.submit(  # warm: no measured call is the first
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))
        state.executor.reset()  # empty KV caches: every measurement starts cold
    gate = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> tuple[str, int, int]:
        async with gate:
            c = await adapter.send(request)
        return c.text, c.prompt_tokens, c.prompt_tokens - c.cached_prompt_tokens

    started = time.perf_counter()
    results = await asyncio.gather(*(one(r) for r in requests))
    seconds = time.perf_counter() - started
    return Measure(seconds, sum(r[1] for r in results), sum(r[2] for r in results),
                   [r[0] for r in results])


def best(a: Measure | None, b: Measure) -> Measure:
    return b if a is None or b.seconds < a.seconds else a


async def bench(levels: list[int], n_short: int, examples: int, n_threads: int,
                repeat: int, modes: list[str]) -> bool:
    adapters: dict[str, EmbeddedAdapter | PlainAdapter] = {
        mode: PlainAdapter(2048, n_threads) if mode == "plain"
        else EmbeddedAdapter(n_ctx=2048, n_threads=n_threads, **MODES[mode])
        for mode in modes}
    workloads = {"short": short_requests(n_short), "shared": shared_requests(examples)}
    same = True
    first = adapters[modes[0]]
    print(f"embedded {first.model}, n_threads={n_threads} (every mode); "
          f"short: {len(workloads['short'])} calls, shared: {len(workloads['shared'])} calls")
    judge = "before" if "before" in modes else modes[0]
    print(f"ratio: calls/s against '{modes[0]}' in the same run; same: every answer equal to "
          f"'{judge}'s")
    print(f"{'case':<7}{'conc':>5}  {'mode':<7}{'calls/s':>8}{'sent':>8}{'computed':>10}"
          f"{'ratio':>7}  same")
    for case, requests in workloads.items():
        for level in levels:
            got: dict[str, Measure | None] = dict.fromkeys(modes)
            for _ in range(repeat):  # alternated, the fastest of each kept: less noise
                for mode in modes:
                    got[mode] = best(got[mode], await measure(adapters[mode], requests, level))
            base, truth = got[modes[0]], got[judge]
            assert base is not None and truth is not None
            n = len(requests)
            for mode in modes:
                m = got[mode]
                assert m is not None
                agree = m.texts == truth.texts
                same = same and (agree or mode == "plain")
                ratio = f"{m.rate(n) / base.rate(n):6.2f}x" if mode != modes[0] else " " * 7
                tail = f"{ratio}  {'yes' if agree else 'NO'}" if mode != judge else ""
                print(f"{case:<7}{level:>5}  {mode:<7}{m.rate(n):>8.2f}{m.sent:>8}"
                      f"{m.computed:>10}{tail:>7}")
            sys.stdout.flush()
    for adapter in adapters.values():
        adapter.unload()
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="1,2,4,8", help="levels, comma-separated")
    ap.add_argument("--short", type=int, default=16, help="calls in the short-answer case")
    ap.add_argument("--examples", type=int, default=6,
                    help="examples per candidate in the shared-prefix case (4 candidates)")
    ap.add_argument("--threads", type=int, default=2,
                    help="llama.cpp threads for the file, the same in every mode (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="measure each this many times, keep the best")
    ap.add_argument("--parallel", type=int, default=None,
                    help="calls side by side in the slots mode (default: one per thread)")
    ap.add_argument("--modes", default="plain,before,slots",
                    help=f"comma-separated, the first is the baseline: {', '.join(MODES)}")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x]
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes or not levels or min(levels) < 1:
        ap.error(f"unknown mode {bad[0]}" if bad else "give at least one mode and levels >= 1")
    if args.parallel is not None:
        if args.parallel < 1:
            ap.error("--parallel must be at least 1")
        MODES["slots"]["parallel"] = args.parallel
    same = asyncio.run(bench(levels, args.short, args.examples, args.threads,
                             max(1, args.repeat), modes))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
