"""The stack the fault suite hurts, and the faults: signals to workers, pool children, Redis and the API."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import redis
import requests

from scripts.embedded_redis import EmbeddedRedis
from scripts.stack import LocalStack, stop_process
from shared import workers
from shared.store import ACTIVE, done_key
from tests.faults.support import FAULT_CHUNK_ROWS, FAULT_SMALL_JOB_ROWS, Client, chunk_attempts, until
from tests.integration.support import LANES, UNACKED, describe

WORKER_GRACE_SECONDS = 10.0
"""Docker's default stop_grace_period: after it, a stopped container is SIGKILLed."""


def fault_stack_of(model_dir: Path, log_dir: Path, workers: int, **env: str) -> LocalStack:
    """A LocalStack whose redis-server keeps an append-only file, so that it can be restarted with its data."""
    stack = LocalStack(workers=workers, model_dir=str(model_dir), log_dir=str(log_dir),
                       env={"CHUNK_ROWS": str(FAULT_CHUNK_ROWS), "SMALL_JOB_ROWS": str(FAULT_SMALL_JOB_ROWS),
                            "TARGET_CHUNK_SECONDS": "0", **env})
    if stack.redis is not None:
        stack.redis.stop()  # never started: this removes its empty directory
    stack.redis = EmbeddedRedis(appendonly=True)
    if stack.redis.binary is None:
        raise RuntimeError("the fault suite needs redis-server on PATH")
    return stack


class FaultStack:
    """A LocalStack (Redis with AOF, gunicorn, Celery workers) and the faults this suite injects into it."""

    def __init__(self, stack: LocalStack, workers: int) -> None:
        self.stack = stack
        self.workers = workers
        self.redis = redis.Redis.from_url(stack.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self._serial = itertools.count(1)
        self._names = {proc.pid: f"w{i + 1}" for i, proc in enumerate(stack.worker_procs)}

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def log_dir(self) -> Path:
        return self.stack.log_dir

    # ------------------------------------------------------------ workers
    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [proc for proc in self.stack.worker_procs if proc.poll() is None]

    def start_worker(self, wait: bool = True) -> subprocess.Popen[bytes]:
        """One more worker node, with a name never used before; by default, once it stamps itself alive."""
        name = f"f{next(self._serial)}"
        proc = self.stack.start_worker(name)
        self._names[proc.pid] = name
        if wait:
            self.wait_worker_alive(proc)
        return proc

    def wait_worker_alive(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> str:
        """The worker id (node|pid) once `proc` stamps its heartbeat."""
        def stamped() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"worker {self._names[proc.pid]} exited ({proc.returncode}); see {self.log_dir}")
            return self.worker_id(proc)

        return until(stamped, timeout, f"worker {self._names[proc.pid]} to stamp its heartbeat", pause=0.1)

    def worker_id(self, proc: subprocess.Popen[bytes]) -> str | None:
        prefix, suffix = f"{self._names[proc.pid]}@", f"|{proc.pid}"
        return next((w for w in workers.alive_ids(self.redis) if w.startswith(prefix) and w.endswith(suffix)), None)

    def in_flight(self, job_id: str) -> set[int]:
        """Chunks of a job started (by START_CHUNK) and not yet done: those some worker is scoring now."""
        return set(chunk_attempts(self.redis, job_id)) - self.done_chunks(job_id)

    def done_chunks(self, job_id: str) -> set[int]:
        return {int(i) for i in self.redis.smembers(done_key(job_id))}

    def queued_chunks(self, job_id: str) -> set[int]:
        """Chunks of a job whose messages wait in a lane's Celery queue list."""
        payloads = [json.loads(raw) for raw in self._waiting_messages()]
        return {index for found, index, _, _ in map(_chunk_message, payloads) if found == job_id}

    def chunk_messages(self, job_id: str, queued: bool = True) -> set[tuple[int, str, bool]]:
        """(chunk, task id, redelivered) of each message of a job taken by a worker and not yet acknowledged, and
        (by default) of those waiting in the queue.

        A message that Celery rejects and requeues keeps its task id and is marked redelivered; one the sweeper
        sends again is a new message, with a new task id.
        """
        payloads = [json.loads(raw)[0] for raw in cast(list[bytes], self.redis.hvals(UNACKED))]
        if queued:
            payloads += [json.loads(raw) for raw in self._waiting_messages()]
        return {(index, task_id, again) for found, index, task_id, again in map(_chunk_message, payloads)
                if found == job_id}

    def _waiting_messages(self) -> list[bytes]:
        return [raw for lane in LANES for raw in cast(list[bytes], self.redis.lrange(lane, 0, -1))]

    def kill_worker(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker's whole process group, main and pool child, as `docker kill` would."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)

    def stop_worker(self, proc: subprocess.Popen[bytes]) -> bool:
        """SIGTERM the main process, as `docker stop` does; SIGKILL after the grace period. Exited by itself?"""
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(WORKER_GRACE_SECONDS)
            return True
        except subprocess.TimeoutExpired:
            self.kill_worker(proc)
            return False

    @staticmethod
    def pool_children(proc: subprocess.Popen[bytes]) -> list[int]:
        """PIDs of the worker main process's children (its prefork pool)."""
        found: list[int] = []
        for task in Path(f"/proc/{proc.pid}/task").glob("*"):
            try:
                found.extend(int(pid) for pid in (task / "children").read_text().split())
            except OSError:
                continue
        return found

    def reap_workers(self) -> None:
        """Forget exited workers (their pool children die with their process group)."""
        for proc in [p for p in self.stack.worker_procs if p.poll() is not None]:
            self.stack.worker_procs.remove(proc)

    # ------------------------------------------------------------ Redis
    def redis_process(self) -> subprocess.Popen[bytes]:
        assert self.stack.redis is not None and self.stack.redis.process is not None
        return self.stack.redis.process

    def stop_redis(self, sig: signal.Signals) -> None:
        proc = self.redis_process()
        proc.send_signal(sig)
        proc.wait(20)

    def start_redis(self, timeout: float = 30.0) -> None:
        """Start redis-server again on the same port and directory, so that it reloads its append-only file.

        While it was down another process may have taken its port (a free-port pick, an outgoing connection):
        wait for the port, and make sure that the Redis answering is this one, never someone else's.
        """
        embedded = self.stack.redis
        assert embedded is not None
        deadline = time.monotonic() + timeout
        while True:
            embedded.start_server()
            proc = self.redis_process()
            try:
                proc.wait(0.5)  # it exits at once when it cannot bind
            except subprocess.TimeoutExpired:
                break
            if time.monotonic() > deadline:
                log = (embedded.dir / "redis.log").read_text(errors="replace")[-500:]
                raise AssertionError(f"redis-server could not start again on port {embedded.port}: {log}")
            time.sleep(0.5)
        embedded.wait_until_up(timeout=max(deadline - time.monotonic(), 5))
        self.check_redis_is_ours()

    def check_redis_is_ours(self) -> None:
        answering = int(self.redis.info("server")["process_id"])
        assert answering == self.redis_process().pid, (
            f"process {answering}, not this stack's redis-server, answers on its port: was the port taken "
            "while Redis was down?")

    def redis_up(self) -> bool:
        process = self.stack.redis.process if self.stack.redis is not None else None
        return process is not None and process.poll() is None

    # ------------------------------------------------------------ the API
    def kill_api(self, sig: signal.Signals) -> None:
        """SIGTERM gunicorn's master (a graceful stop) or SIGKILL its whole group (a crash)."""
        api = self.stack.api
        assert api is not None
        if sig == signal.SIGKILL:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(15)
        else:
            stop_process(api, timeout=30)

    def start_api(self, timeout: float = 60.0) -> None:
        self.stack.start_api()
        until(self.api_answers, timeout, f"the API to answer again (logs in {self.log_dir})", pause=0.1)

    def api_answers(self) -> bool:
        try:
            return requests.get(self.base_url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # ------------------------------------------------------------ between tests
    def heal(self, timeout: float = 90.0) -> None:
        """Redis, the API and `workers` live workers up, and no live job left over from an earlier test."""
        if not self.redis_up():
            self.start_redis()
        self.check_redis_is_ours()
        if self.stack.api is None or self.stack.api.poll() is not None:
            self.start_api()
        self.reap_workers()
        started = [self.start_worker(wait=False) for _ in range(self.workers - len(self.live_workers()))]
        for proc in started:
            self.wait_worker_alive(proc)
        deadline = time.monotonic() + timeout
        while self.redis.zcard(ACTIVE) and time.monotonic() < deadline:
            time.sleep(0.2)
        for raw in cast(list[bytes], self.redis.zrange(ACTIVE, 0, -1)):  # a failed test's leftovers: cancel them
            requests.delete(f"{self.base_url}/jobs/{raw.decode()}", timeout=10)
        self.check_scores()

    def check_scores(self, timeout: float = 30.0) -> None:
        """A one-row canary job succeeds: the stack takes, enqueues and scores work (not merely stamps)."""
        client = Client(self.base_url)
        try:
            answer = client.post_job({"model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]})
            assert answer.status_code == 202, f"the canary job was refused: {describe(answer)}"
            job = client.wait_terminal([answer.json()["job_id"]], timeout)
        finally:
            client.close()
        canary = next(iter(job.values()))
        assert canary["status"] == "succeeded", f"the stack cannot score a canary job: {canary} (logs: {self.log_dir})"


def _chunk_message(payload: dict[str, Any]) -> tuple[str, int, str, bool]:
    """(job id, chunk, task id, redelivered) of a Celery task message as kombu stores it in Redis."""
    body = payload["body"]
    if payload.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args = json.loads(body)[0]
    headers = payload["headers"]
    return str(args[0]), int(args[1]), str(headers["id"]), bool(headers.get("redelivered"))
