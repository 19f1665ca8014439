"""How fast is the embedded model under concurrent calls, with and without prefix scheduling?

Runs the same requests through the embedded adapter twice per concurrency level, back to back on
one loaded model: first in arrival order (``scheduling="fifo"``, the adapter as it was), then
longest-shared-prefix first (``scheduling="prefix"``, the default). The KV cache is emptied
before each measurement. Two workloads:

- ``short``: distinct short prompts, answers up to 16 tokens;
- ``shared``: one-word answers after a ~300-token prompt: 4 candidate instructions × the same 8
  demonstrations × many examples, submitted interleaved (c1e1, c2e1, c3e1, c4e1, c1e2, …).

It prints calls/s, prompt tokens sent and computed, the ratio prefix/fifo, and whether both
orders gave the same answer to every request.

    python bench/embedded.py                           # concurrency 1,2,4,8; n_threads 1
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

from core import Message, Request
from core.models.embedded import EmbeddedAdapter, Scheduling

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


async def measure(adapter: EmbeddedAdapter, requests: list[Request], concurrency: int) -> Measure:
    state = adapter._get()
    await asyncio.wrap_future(state.executor.submit(  # warm: no measured call is the first
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}))
    state.llama.reset()  # an empty KV cache: every measurement starts cold
    slots = asyncio.Semaphore(concurrency)

    async def one(request: Request) -> tuple[str, int, int]:
        async with slots:
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
                repeat: int) -> bool:
    adapters: dict[Scheduling, EmbeddedAdapter] = {
        mode: EmbeddedAdapter(n_ctx=2048, n_threads=n_threads, scheduling=mode)
        for mode in ("fifo", "prefix")}
    workloads = {"short": short_requests(n_short), "shared": shared_requests(examples)}
    same = True
    print(f"embedded {adapters['fifo'].model}, n_threads={n_threads}; "
          f"short: {len(workloads['short'])} calls, shared: {len(workloads['shared'])} calls")
    print(f"{'case':<7}{'conc':>5}  {'mode':<7}{'calls/s':>8}{'sent':>8}{'computed':>10}"
          f"{'ratio':>7}  same answers")
    for case, requests in workloads.items():
        for level in levels:
            fifo = prefix = None
            for _ in range(repeat):  # alternated, the fastest of each kept: less noise
                fifo = best(fifo, await measure(adapters["fifo"], requests, level))
                prefix = best(prefix, await measure(adapters["prefix"], requests, level))
            assert fifo is not None and prefix is not None
            agree = fifo.texts == prefix.texts
            same = same and agree
            n = len(requests)
            for mode, m in (("fifo", fifo), ("prefix", prefix)):
                tail = (f"{prefix.rate(n) / fifo.rate(n):6.2f}x  {'yes' if agree else 'NO'}"
                        if mode == "prefix" else "")
                print(f"{case:<7}{level:>5}  {mode:<7}{m.rate(n):>8.2f}{m.sent:>8}"
                      f"{m.computed:>10}{tail:>7}")
            sys.stdout.flush()
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", default="1,2,4,8", help="levels, comma-separated")
    ap.add_argument("--short", type=int, default=16, help="calls in the short-answer case")
    ap.add_argument("--examples", type=int, default=6,
                    help="examples per candidate in the shared-prefix case (4 candidates)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 on a busy box)")
    ap.add_argument("--repeat", type=int, default=1, help="measure each this many times, keep the best")
    args = ap.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x]
    same = asyncio.run(bench(levels, args.short, args.examples, args.threads, max(1, args.repeat)))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
