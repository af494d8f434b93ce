"""The whole stack on one machine, without Docker: Redis, the API and Celery workers.

    python -m scripts.stack          # serve until Ctrl-C (make serve)
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from scripts.embedded_redis import EmbeddedRedis, free_port
from scripts.make_models import write_demo_models
from shared.settings import REPO_ROOT, Settings

BIN = Path(sys.executable).parent
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Each worker process scores on one core; more workers, not more threads, use more cores."""


class LocalStack:
    """Redis, gunicorn and N Celery workers as child processes, logging under `log_dir`."""

    def __init__(self, workers: int = 2, port: int | None = None, env: Mapping[str, str] | None = None,
                 redis_url: str | None = None, model_dir: str | None = None, api_workers: int = 2,
                 log_dir: str | None = None, prefer_fake_redis: bool = False,
                 api_env: Mapping[str, str] | None = None, worker_env: Mapping[str, str] | None = None,
                 worker_heartbeat: bool = False) -> None:
        """`env` goes to every process; `api_env` and `worker_env` on top of it to the API or the workers only
        (e.g. each its own REDIS_URL, as with Redis ACL users). `worker_heartbeat` runs Celery's worker heartbeat
        as the images do (it also flushes buffered task events, which Flower reads)."""
        self.workers = workers
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.api_env = dict(api_env or {})
        self.worker_env = dict(worker_env or {})
        self.worker_heartbeat = worker_heartbeat
        self.model_dir = model_dir or Settings.from_env().model_dir
        self.api_workers = api_workers
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="predq-stack-"))
        self.redis = None if redis_url else EmbeddedRedis(prefer_fake=prefer_fake_redis)
        self._redis_url = redis_url
        self.api: subprocess.Popen[bytes] | None = None
        self.worker_procs: list[subprocess.Popen[bytes]] = []

    @property
    def redis_url(self) -> str:
        return self._redis_url or (self.redis.url if self.redis else "")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "REDIS_URL": self.redis_url, "MODEL_DIR": self.model_dir,
               "PYTHONPATH": str(REPO_ROOT), **self.extra_env}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def start(self, timeout: float = 60.0) -> LocalStack:
        ensure_port_free(self.port)
        write_demo_models(self.model_dir, log=lambda line: print(line, flush=True))
        if self.redis:
            self.redis.start()
        self.start_api()
        for _ in range(self.workers):
            self.start_worker()
        self.wait_ready(timeout)
        return self

    def start_api(self) -> None:
        args = [str(BIN / "gunicorn"), "api:create_app()", "--config", str(REPO_ROOT / "gunicorn.conf.py"),
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.api_workers)]
        self.api = self._spawn(args, "api.log", {**self.env(), **self.api_env})

    def restart_api(self, timeout: float = 60.0) -> None:
        """A fresh API process (a clean heap), e.g. to measure one job's memory."""
        if self.api is not None:
            stop_process(self.api)
        self.start_api()
        self.wait_ready(timeout)

    def start_worker(self, name: str | None = None) -> subprocess.Popen[bytes]:
        name = name or f"w{len(self.worker_procs) + 1}"
        args = [str(BIN / "celery"), "--quiet", "--app", "worker", "worker", "--concurrency", "1", "--hostname",
                f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                *([] if self.worker_heartbeat else ["--without-heartbeat"])]
        proc = self._spawn(args, f"worker-{name}.log", {**self.env(), **SINGLE_THREADED, **self.worker_env})
        self.worker_procs.append(proc)
        return proc

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / log_name, "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.api is not None and self.api.poll() is not None:
                raise RuntimeError(f"the API exited; see {self.log_dir / 'api.log'}")
            try:
                with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the stack was not ready within {timeout:.0f}s; logs in {self.log_dir}")

    def stop(self) -> None:
        for proc in [*self.worker_procs, *([self.api] if self.api else [])]:
            stop_process(proc)
        self.worker_procs.clear()
        self.api = None
        if self.redis:
            self.redis.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def ensure_port_free(port: int) -> None:
    """Refuse to start behind another server that already answers on `port`."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is already in use; stop what runs there or pick another port")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL to the whole process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _interrupt(signum: int, _frame: object) -> None:
    """SIGTERM (and SIGINT, even where a shell started us with it ignored) stops `make serve` like Ctrl-C."""
    raise KeyboardInterrupt


def local_storage(folder: Path) -> dict[str, str]:
    """Jobs by reference may name files under `folder` (file://), unless the environment says otherwise."""
    defaults = {"STORAGE_ROOTS": str(folder), "STORAGE_ALLOWED_PREFIXES": f"file://{folder}/"}
    return {name: os.environ.get(name, value) for name, value in defaults.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local stack until Ctrl-C.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    stack = LocalStack(workers=args.workers, port=args.port, env=local_storage(Path.cwd() / "data"))
    try:
        stack.start()
        print(f"predq is serving on {stack.base_url} (Redis: {stack.redis.kind if stack.redis else stack.redis_url},"
              f" {args.workers} workers; logs in {stack.log_dir}). Ctrl-C stops it.", flush=True)
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, _interrupt)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
