"""How much does the call stack cost on top of the model?

Sends N requests (default 2,000) through the full stack (validate → cache → rate limit →
retry(timeout(adapter)) → cache store → usage) to loopback fake servers with a fixed latency,
at a given concurrency, and prints wall time against the ideal (N × latency ÷ concurrency), beside
a bare aiohttp loop (the floor) run alternately against the same server, and a naive sequential
loop. Then, in the same run:
- saturation: the stack and the bare loop at ``--saturate`` in flight (default 256) against a
  zero-latency server: calls a second from one process;
- pool scaling (``--servers``, default 1,4): a pool of that many servers, each limited to
  ``--per-server`` requests in flight (the client's in-flight limit is per-server × servers),
  throughput against one server.

Every fake server runs in its own process (bench/fixed_server.py), so the client's process
measures only the client, and a pool's servers do not share one CPU.

    python bench/overhead.py                      # all three, ~30 s
    python bench/overhead.py --servers 1,2,4 --saturate 0
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fixed_server import Server
from core import Message, Request
from core.models.cache import ResponseCache
from core.models.limits import RateLimits
from core.models.pool import Pool
from core.models.providers import OpenAIAdapter
from core.models.stack import ModelClient


def requests(n: int, tag: str) -> list[Request]:
    return [Request(messages=(Message("user", f"{tag} request {i}"),), max_tokens=16)
            for i in range(n)]


async def run_stack(urls: list[str], n: int, concurrency: int, cache_dir: Path | None,
                    tag: str) -> float:
    adapters = [OpenAIAdapter("fake", u, max_connections=concurrency + 4) for u in urls]
    adapter = adapters[0] if len(adapters) == 1 else Pool(adapters)
    cache = ResponseCache(cache_dir / f"{tag}.db") if cache_dir is not None else None
    client = ModelClient("openai:fake", adapter, cache=cache,
                         limits=RateLimits(max_in_flight=concurrency))
    reqs = requests(n, tag)
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)

    async def worker() -> None:
        while not queue.empty():
            await client.complete(queue.get_nowait())

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall = time.perf_counter() - started
    assert client.usage.calls == n, client.usage
    await client.aclose()
    if cache is not None:
        cache.close()
    return wall


async def run_bare(url: str, n: int, concurrency: int) -> float:
    """The floor: a bare aiohttp loop with no stack, no httpx, no cache, same server."""
    import aiohttp

    body = {"model": "fake", "messages": [{"role": "user", "content": "bare"}], "max_tokens": 16}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        remaining = list(range(n))

        async def worker() -> None:
            while remaining:
                remaining.pop()
                async with session.post(url + "/chat/completions", json=body) as response:
                    await response.read()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
        return time.perf_counter() - started


async def run_naive(url: str, n: int, cache_dir: Path) -> float:
    adapter = OpenAIAdapter("fake", url)
    client = ModelClient("openai:fake", adapter, cache=ResponseCache(cache_dir / "naive.db"))
    started = time.perf_counter()
    for r in requests(n, "naive"):
        await client.complete(r)
    wall = time.perf_counter() - started
    await client.aclose()
    return wall


def saturate(n: int, conc: int, repeat: int) -> None:
    """The stack and the bare loop, alternately, as fast as one process can go."""
    with tempfile.TemporaryDirectory() as tmp, Server(0.0) as srv:
        cache_dir = Path(tmp)
        asyncio.run(run_stack([srv.base_url], 50, conc, cache_dir, "satwarmup"))
        walls, bares = [], []
        for i in range(repeat):
            walls.append(asyncio.run(run_stack([srv.base_url], n, conc, cache_dir, f"sat{i}")))
            bares.append(asyncio.run(run_bare(srv.base_url, n, conc)))
    wall, bare = statistics.median(walls), statistics.median(bares)
    print()
    print(f"saturation: {n} requests, {conc} in flight, zero-latency server")
    print(f"  full stack:                      {n / wall:7.0f} calls/s  [best {n / min(walls):.0f}]")
    print(f"  bare aiohttp loop (the floor):   {n / bare:7.0f} calls/s  [best {n / min(bares):.0f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.020)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the stack and bare loops")
    ap.add_argument("--naive", type=int, default=200,
                    help="requests for the sequential loop (its time is scaled to --requests)")
    ap.add_argument("--saturate", type=int, default=256,
                    help="in flight for the zero-latency throughput run (0: skip it)")
    ap.add_argument("--servers", default="1,4",
                    help="pool sizes to compare, e.g. 1,2,4 ('': skip the pool run)")
    ap.add_argument("--per-server", type=int, default=8, help="in flight per server in the pool run")
    args = ap.parse_args()
    n, lat, conc = args.requests, args.latency, args.concurrency
    if n < 1 or conc < 1 or args.repeat < 1 or args.naive < 1 or lat < 0 or args.saturate < 0:
        ap.error("--requests, --concurrency, --repeat and --naive must be at least 1, "
                 "--latency and --saturate at least 0")
    with tempfile.TemporaryDirectory() as tmp, Server(lat) as srv:
        cache_dir = Path(tmp)
        asyncio.run(run_stack([srv.base_url], 50, conc, cache_dir, "warmup"))
        walls, bares = [], []
        for i in range(args.repeat):  # interleaved, so both see the same machine noise
            walls.append(asyncio.run(run_stack([srv.base_url], n, conc, cache_dir, f"stack{i}")))
            bares.append(asyncio.run(run_bare(srv.base_url, n, conc)))
        wall, bare = statistics.median(walls), statistics.median(bares)
        stats = srv.stats()
        peak, served = stats["peak_in_flight"], stats["mean_latency_s"]
        naive = asyncio.run(run_naive(srv.base_url, args.naive, cache_dir)) * n / args.naive
    ideal = n * lat / conc

    def vs_ideal(t: float) -> str:  # a zero-latency server has no ideal to divide by
        return f"{t / ideal:5.3f}" if ideal > 0 else "  n/a"
    print(f"requests: {n}  latency: {lat * 1000:.0f} ms (server-measured mean {served * 1000:.2f} ms)"
          f"  concurrency: {conc}  runs: {args.repeat} (median; best in brackets)")
    print(f"ideal (N x latency / concurrency): {ideal:7.3f} s")
    print(f"full stack:                        {wall:7.3f} s  ratio to ideal {vs_ideal(wall)}  "
          f"[{min(walls):.3f} s, {vs_ideal(min(walls))}]  {n / wall:6.0f} req/s, "
          f"server peak in flight {peak}")
    print(f"bare aiohttp loop (the floor):     {bare:7.3f} s  ratio to ideal {vs_ideal(bare)}  "
          f"[{min(bares):.3f} s, {vs_ideal(min(bares))}]")
    print(f"stack cost over the bare loop:     {(wall / bare - 1) * 100:+6.1f} %")
    print(f"naive sequential loop:             {naive:7.3f} s  (measured on {args.naive}, scaled)"
          f"  the stack is {naive / wall:.1f}x faster")
    if args.saturate:
        saturate(n, args.saturate, args.repeat)
    if args.servers:
        print()
        print(f"pool scaling: each server {lat * 1000:.0f} ms, {args.per_server} in flight per server"
              f" (median of {args.repeat}; requests per server over all runs)")
        base = None
        for k in [int(x) for x in args.servers.split(",")]:
            servers = [Server(lat).start() for _ in range(k)]
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    conc_k = args.per_server * k
                    wall_k = statistics.median(
                        asyncio.run(run_stack([s.base_url for s in servers], n, conc_k,
                                              Path(tmp), f"pool{k}-{i}"))
                        for i in range(args.repeat))
                    peaks = [s.stats()["peak_in_flight"] for s in servers]
                    counts = [s.stats()["count"] for s in servers]
            finally:
                for s in servers:
                    s.stop()
            tput = n / wall_k
            base = base or tput
            ideal_k = n * lat / conc_k
            ratio = f"{wall_k / ideal_k:5.3f}" if ideal_k > 0 else "  n/a"
            print(f"  {k} server(s): {wall_k:6.3f} s  {tput:7.1f} req/s  x{tput / base:.2f}  "
                  f"ratio to ideal {ratio}  per-server requests {counts}  peaks {peaks}")


if __name__ == "__main__":
    main()
