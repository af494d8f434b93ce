"""How the API holds up while hostile clients hold connections (not a test; the numbers behind gunicorn.conf.py).

    python -m scripts.load_probe [--clients 48] [--seconds 10] [--baseline]

Starts its own Redis and `gunicorn 'api:create_app()'` with the repo's gunicorn.conf.py and no worker (so jobs
stay queued: long polls and followers wait as long as the probe wants), then for each scenario runs N hostile
clients while 4 well-behaved ones loop on short requests (GET /jobs?limit=1), and prints short requests per
second and /healthz latency (sampled every 0.25 s; a sample that times out after 5 s counts as 5 s).
`--baseline` runs the API as it was before the limits: gunicorn's stock gthread worker, 16 threads, no caps, no
floor rate, no receive timeout; `--worker-class gthread` runs the stock worker with today's settings.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from scripts.stack import LocalStack

BASELINE_ENV = {"GUNICORN_CMD_ARGS": "--worker-class gthread", "GUNICORN_THREADS": "16",
                "MAX_HELD_REQUESTS": "100000", "MAX_HELD_REQUESTS_PER_KEY": "100000", "MAX_UPLOADS": "100000",
                "BODY_MIN_BYTES_PER_SECOND": "0", "BODY_READ_TIMEOUT_SECONDS": "100000"}
HEALTHZ_TIMEOUT = 5.0


def _raw(base: str, request: bytes, then: Callable[[socket.socket], None], stop: threading.Event) -> None:
    """Open a connection, send `request`, run `then` on it; again a second after the server ends it (as its
    Retry-After says: a client that does not wait is a flood, which is the rate limit's business)."""
    parts = urlsplit(base)
    while not stop.is_set():
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=60) as sock:
                sock.sendall(request)
                then(sock)
        except OSError:
            pass
        time.sleep(1.0)


def trickler(base: str, stop: threading.Event) -> None:
    """A CSV upload announced as 10 MB that sends a byte every half second."""
    head = (b"POST /jobs?model=iris HTTP/1.1\r\nHost: probe\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 10000000\r\n\r\nsepal_length,")

    def trickle(sock: socket.socket) -> None:
        while not stop.is_set():
            sock.sendall(b"5")
            time.sleep(0.5)

    _raw(base, head, trickle, stop)


def header_trickler(base: str, stop: threading.Event) -> None:
    """A request whose headers arrive a byte every half second (slowloris)."""
    def trickle(sock: socket.socket) -> None:
        while not stop.is_set():
            sock.sendall(b"a")
            time.sleep(0.5)

    _raw(base, b"GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: ", trickle, stop)


def holder(path: str) -> Callable[[str, threading.Event], None]:
    """A GET of `path` kept open until the server ends it (then asked again)."""
    def run(base: str, stop: threading.Event) -> None:
        def read(sock: socket.socket) -> None:
            while not stop.is_set() and sock.recv(65536):
                pass
        _raw(base, f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode(), read, stop)
    return run


def measure(base: str, hostile: Callable[[str, threading.Event], None] | None, clients: int,
            seconds: float, warmup: float) -> tuple[float, float, float]:
    """(short requests per second, median and worst /healthz seconds) while `clients` hostile clients run."""
    stop = threading.Event()
    threads = [threading.Thread(target=hostile, args=(base, stop), daemon=True)
               for _ in range(clients if hostile else 0)]
    for t in threads:
        t.start()
    time.sleep(warmup)  # let them take their connections (and a trickler pass its grace)
    done = [0]

    def short() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    if session.get(base + "/jobs?limit=1", timeout=10).status_code == 200:
                        done[0] += 1
                except requests.RequestException:
                    pass

    loops = [threading.Thread(target=short, daemon=True) for _ in range(4)]
    for t in loops:
        t.start()
    latencies: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        t0 = time.monotonic()
        try:
            requests.get(base + "/healthz", timeout=HEALTHZ_TIMEOUT)
            latencies.append(time.monotonic() - t0)
        except requests.RequestException:
            latencies.append(HEALTHZ_TIMEOUT)
        time.sleep(max(0.0, 0.25 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - started
    stop.set()
    for t in loops:
        t.join(timeout=15)
    return done[0] / elapsed, statistics.median(latencies), max(latencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--worker-class", help="override gunicorn.conf.py's worker_class (e.g. gthread)")
    args = parser.parse_args(argv)
    env = dict(BASELINE_ENV) if args.baseline else {}
    if args.worker_class:
        env["GUNICORN_CMD_ARGS"] = f"--worker-class {args.worker_class}"
    stack = LocalStack(workers=0, env=env)
    if stack.redis:
        stack.redis.start()
    stack.start_api()
    try:
        for _ in range(200):
            try:
                requests.get(stack.base_url + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        job = requests.post(stack.base_url + "/jobs", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10).json()
        job_id = job["job_id"]
        scenarios: list[tuple[str, Callable[[str, threading.Event], None] | None]] = [
            ("none", None), ("trickling bodies", trickler), ("trickling headers", header_trickler),
            ("long polls", holder(f"/jobs/{job_id}?wait=30")),
            ("followers", holder(f"/jobs/{job_id}/results?format=ndjson&follow=true"))]
        mode = "baseline (stock gthread, 16 threads, no caps)" if args.baseline else "gunicorn.conf.py defaults"
        if args.worker_class:
            mode += f", worker class {args.worker_class}"
        print(f"{mode}; N = {args.clients} hostile clients; {args.seconds:.0f} s per scenario")
        print(f"| {'scenario':<17} | {'short req/s':>11} | {'/healthz p50':>12} | {'/healthz max':>12} |")
        print(f"| {'-' * 17} | {'-' * 11}: | {'-' * 12}: | {'-' * 12}: |")
        for name, hostile in scenarios:
            rate, p50, worst = measure(stack.base_url, hostile, args.clients, args.seconds, args.warmup)
            print(f"| {name:<17} | {rate:11.1f} | {p50 * 1000:10.1f}ms | {worst * 1000:10.1f}ms |", flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
