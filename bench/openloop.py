"""Latency at a fixed offered load (open loop), from a second process.

wrk keeps every connection busy, so at saturation its latencies measure the queue, not
the service. Here `connections` keep-alive connections share a fixed request rate; each
request has a scheduled send time and its latency is counted from that time, so a slow
answer also delays (and is charged to) the requests queued behind it. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from urllib.parse import urlparse


async def connection_worker(host, port, request: bytes, start: float, interval: float, count: int, out: list):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for index in range(count):
            scheduled = start + index * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            out.append((time.perf_counter() - scheduled, status_line.split(b" ")[1]))
    finally:
        writer.close()


async def run(url: str, rate: float, seconds: float, connections: int, key: str) -> dict:
    parts = urlparse(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}\r\nAuthorization: Bearer {key}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    per_connection = rate / connections
    interval = 1.0 / per_connection
    count = int(per_connection * seconds)
    results: list = []
    start = time.perf_counter() + 0.5
    workers = [
        connection_worker(
            parts.hostname, parts.port, request, start + index * interval / connections, interval, count, results
        )
        for index in range(connections)
    ]
    await asyncio.gather(*workers)
    latencies = sorted(latency for latency, _ in results)
    bad = sum(1 for _, status in results if not status.startswith(b"2"))

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 3)

    return {
        "offered_rate": rate,
        "connections": connections,
        "requests": len(results),
        "non_2xx": bad,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": round(latencies[-1] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.rate, args.seconds, args.connections, os.environ.get("BENCH_KEY", "")))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
