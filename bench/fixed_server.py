"""A loopback OpenAI-compatible server that answers every request after a fixed latency.

Made for benchmarks: it must cost as little CPU as possible so that what the benchmark measures is
the client's stack, not the server. The fault-injecting fake (``tests/fakes/model_server.py``,
aiohttp) spends ~0.4 ms of CPU a request, which on a 2-core machine is itself a bottleneck at
1,600 requests/s; this one speaks just enough HTTP/1.1 (keep-alive, Content-Length, no
pipelining) over an ``asyncio.Protocol`` and answers from a timer.

    python bench/fixed_server.py --latency 0.02      # prints "READY <port>"
    GET /_stats → {"count", "peak_in_flight", "mean_latency_s"}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from typing import Any

CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class Stats:
    count = 0
    in_flight = 0
    peak = 0
    latency_sum = 0.0


def _http(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n").encode() + body


class FixedLatency(asyncio.Protocol):
    latency = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            match = CONTENT_LENGTH.search(self.buf, 0, end + 2)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buf) < total:
                return
            head, self.buf = self.buf[:end], self.buf[total:]
            if head.startswith(b"GET /_stats"):
                body = json.dumps({
                    "count": Stats.count, "peak_in_flight": Stats.peak,
                    "mean_latency_s": Stats.latency_sum / max(Stats.count, 1)}).encode()
                self.transport.write(_http("200 OK", body))
                continue
            Stats.in_flight += 1
            Stats.peak = max(Stats.peak, Stats.in_flight)
            loop = asyncio.get_running_loop()
            loop.call_later(self.latency, self.respond, time.perf_counter())

    def respond(self, started: float) -> None:
        Stats.in_flight -= 1
        Stats.count += 1
        body = (b'{"id":"x","object":"chat.completion","model":"fake","choices":[{"index":0,'
                b'"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
                b'"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}')
        if not self.transport.is_closing():
            self.transport.write(_http("200 OK", body))
        Stats.latency_sum += time.perf_counter() - started


async def serve(latency: float) -> None:
    FixedLatency.latency = latency
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedLatency, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    server.close()


class Server:
    """Start one in a subprocess: ``with Server(0.02) as s: s.base_url``."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Server:
        self.proc = subprocess.Popen([sys.executable, __file__, "--latency", str(self.latency)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("READY"):
            raise RuntimeError(f"fixed-latency server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        import httpx

        return dict(httpx.get(f"http://127.0.0.1:{self.port}/_stats").json())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.02)
    try:  # libuv's timers are finer than asyncio's (epoll rounds timeouts up to whole ms)
        import uvloop

        uvloop.run(serve(ap.parse_args().latency))
    except ImportError:
        asyncio.run(serve(ap.parse_args().latency))
