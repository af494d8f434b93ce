"""`make docker-smoke`: the Docker images and the compose stack, end to end, on this machine's engine.

Builds the images; starts Redis, the API and two workers (docker-compose.yml plus
docker-compose.host.yml: host networking, Redis on 127.0.0.1:16379, the API on 127.0.0.1:18000);
scores a 10,000-row job over HTTP and checks every row against the synchronous endpoint; scores a CSV
and a Parquet job on every model version GET /models lists, row for row as the API's synchronous endpoint
answers (the trimmed images load and score every demo model); scales
to three workers and checks that the new node takes chunks; stops a worker with `docker stop`
(10 s grace) in the middle of a job and checks that the job completes with every chunk recorded
exactly once; mounts a host folder of models over MODEL_DIR (docker-compose.models.yml) and
scores a job on a model the images do not have; brings up the `monitoring` profile and asks
Flower for the workers; tears it all down (containers, volumes). Needs a Docker engine with Compose v2
(../shared/tools/docker-lab.sh --compose-v2 installs one); not part of `make test`.

    python -m scripts.docker_smoke [--keep] [--no-flower] [--stop-rows N]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from predq_client import PredqError

from scripts import deploy_secrets, redis_acl
from scripts.demo import demo_rows
from scripts.smoke_http import (
    MODEL,
    PORTS,
    check,
    check_job,
    chunks_by_node,
    client,
    delta,
    expected_results,
    http,
    readyz,
    results_of,
    rows_scored,
    same,
    say,
    submit,
    wait_for,
    wait_job,
    workers_alive,
)
from shared.errors import SmokeError
from shared.metrics import public_node

REPO = Path(__file__).resolve().parent.parent
PROJECT = "predq-lab"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.host.yml")
ENV_FILE = Path(".stack") / "docker-smoke.env"
"""The smoke test's own settings, relative to the repo: it never reads or writes your .env."""

SECRETS_DIR = Path(".stack") / "docker-smoke-secrets"
"""Its own Docker secret files: the Redis ACL users, and an empty api_keys (the smoke's API takes no keys)."""

CHUNK_ROWS = 500
"""Small chunks, so that a 10,000-row job is 20 chunks that every worker shares."""

FIRST_ROWS = 10_000

MODEL_ROWS = 1_200
"""Rows of each model's jobs in the every-model step: three chunks, and more than one synchronous call."""


# ---------------------------------------------------------------- docker and compose

def run(argv: Sequence[str], *, env: dict[str, str] | None = None, capture: bool = True,
        check_rc: bool = True) -> str:
    done = subprocess.run(list(argv), cwd=REPO, env=env, text=True, check=False,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)
    if check_rc and done.returncode != 0:
        raise SmokeError(f"{' '.join(argv)} exited {done.returncode}:\n{(done.stdout or '')[-3000:]}")
    return done.stdout or ""


class Lab:
    """The compose project on this machine, with the smoke test's env file."""

    def __init__(self, monitoring: bool) -> None:
        self.passwords = {v: secrets.token_hex(16) for v in redis_acl.PASSWORD_VARIABLES.values()}
        self.flower_auth = f"smoke:{secrets.token_hex(8)}"
        self.env = {**os.environ, "PREDQ_ENV_FILE": str(ENV_FILE), "PREDQ_TAG": "lab",
                    "COMPOSE_PROJECT_NAME": PROJECT}
        self.env.pop("COMPOSE_FILE", None)
        self.profiles = ["--profile", "monitoring"] if monitoring else []
        self.files = list(COMPOSE_FILES)
        self.write_env(worker_monitoring=0)

    def write_env(self, worker_monitoring: int) -> None:
        settings = {**self.passwords, "PREDQ_SECRETS_DIR": f"./{SECRETS_DIR}", "CHUNK_ROWS": CHUNK_ROWS,
                    "WORKER_CONCURRENCY": 1,
                    "TARGET_CHUNK_SECONDS": 0,
                    "WORKER_MONITORING": worker_monitoring, "WEB_CONCURRENCY": 2, "LOG_LEVEL": "INFO",
                    "FLOWER_BASIC_AUTH": self.flower_auth, "LAB_REDIS_PORT": PORTS["redis"],
                    "LAB_API_PORT": PORTS["api"], "LAB_FLOWER_PORT": PORTS["flower"]}
        path = REPO / ENV_FILE
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        path.chmod(0o600)
        folder = REPO / SECRETS_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        redis_acl.write_private(folder / deploy_secrets.API_KEYS, "", deploy_secrets.FILE_MODE)
        redis_acl.main(["--env-file", str(path), "--out", str(folder / deploy_secrets.REDIS_ACL)])

    def compose(self, *args: str, capture: bool = True, check_rc: bool = True) -> str:
        files = [arg for name in self.files for arg in ("-f", name)]
        argv = ["docker", "compose", "-p", PROJECT, *files, "--env-file", str(ENV_FILE), *self.profiles, *args]
        return run(argv, env=self.env, capture=capture, check_rc=check_rc)

    def containers(self, service: str) -> list[str]:
        out = run(["docker", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}",
                   "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}"])
        return sorted(out.split())

    def node_of(self, container: str) -> str:
        """The Celery node a worker container runs, as its own healthcheck names it."""
        deadline = time.monotonic() + 30
        while True:
            out = run(["docker", "exec", container, "python", "-m", "worker.health"], check_rc=False).strip()
            if out.endswith(": alive"):
                return out.rsplit(":", 1)[0]
            if time.monotonic() > deadline:
                raise SmokeError(f"{container} has no live node: {out}")
            time.sleep(0.5)

    def pid1(self, container: str) -> tuple[str, str]:
        """PID 1's command line and the uid it runs as."""
        cmdline = run(["docker", "exec", container, "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"]).strip()
        uid = run(["docker", "exec", container, "sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status"]).strip()
        return cmdline, uid

    def dump_logs(self) -> None:
        print("---- last log lines of every service ----", flush=True)
        self.compose("logs", "--no-color", "--tail", "40", capture=False, check_rc=False)


# ---------------------------------------------------------------- the steps

def preflight() -> None:
    say("preflight")
    run(["docker", "info", "--format", "{{.ServerVersion}}"])
    say(f"  docker {run(['docker', 'version', '--format', '{{.Server.Version}}']).strip()}, "
        f"{run(['docker', 'compose', 'version']).strip()}")
    for name, port in PORTS.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no clash
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise SmokeError(f"port {port} ({name}) is in use on this machine") from None


def build(lab: Lab) -> None:
    say("build: docker compose build (api, worker, redis" + (", flower)" if lab.profiles else ")"))
    started = time.perf_counter()
    lab.compose("build", capture=True)
    say(f"  built in {time.perf_counter() - started:.1f}s")
    for image in ("predq-api:lab", "predq-worker:lab", "predq-flower:lab", "predq-lab/redis:bookworm"):
        size = run(["docker", "image", "inspect", "-f", "{{.Size}}", image], check_rc=False).strip()
        if size.isdigit():
            say(f"  {image:<26} {int(size) / 1e6:6.0f} MB")


def start(lab: Lab) -> None:
    say("up: redis, api and 2 workers (docker compose up --detach --scale worker=2)")
    started = time.perf_counter()
    lab.compose("up", "--detach", "--scale", "worker=2", "redis", "api", "worker")
    up_returned = time.perf_counter() - started
    wait_for("a ready answer from /readyz", lambda: (readyz() or {}).get("status") == "ready", 120, every=0.1)
    first_ready = time.perf_counter() - started
    wait_for("2 live workers", lambda: workers_alive() == 2, 60)
    say(f"  `up` returned after {up_returned:.1f}s; first ready answer from /readyz "
        f"{first_ready:.1f}s after `up` started; both workers alive after {time.perf_counter() - started:.1f}s")
    for container in lab.containers("api")[:1] + lab.containers("worker") + lab.containers("redis"):
        cmdline, uid = lab.pid1(container)
        say(f"  {container}: PID 1 is `{cmdline[:90]}` (uid {uid})")
        check(not cmdline.startswith(("sh ", "/bin/sh ")) and uid != "0",
              f"{container}: PID 1 is the service itself, not a shell, and not root")


def first_job(lab: Lab, rows: list[list[float]]) -> list[Any]:
    say(f"job 1: {len(rows):,} rows over HTTP to {MODEL}, 2 workers")
    before = chunks_by_node()
    started = time.perf_counter()
    job = submit(rows)
    say(f"  202: job {job.job_id[:8]}…, {job.progress.chunks_total} chunks of {CHUNK_ROWS} rows")
    job = wait_job(job.job_id)
    say(f"  finished in {time.perf_counter() - started:.2f}s")
    expected = expected_results(rows)
    check_job(job, rows, expected)
    took = delta(chunks_by_node(), before)
    say(f"  chunks per worker node: {took}")
    check(sum(took.values()) == job.progress.chunks_total, "each chunk counted once across the nodes")
    check(len(took) == 2, "both workers took chunks")
    return expected


def model_rows(entry: dict[str, Any], n_rows: int, seed: int) -> list[Any]:
    """`n_rows` random rows for a model as GET /models describes it: lists of numbers, or objects by its schema."""
    import numpy as np

    rng = np.random.default_rng(seed)
    features = list(entry["features"])
    if not entry.get("schema"):
        return list(np.round(rng.normal(0, 1, (n_rows, len(features))), 4).tolist())
    types = {column["name"]: column["type"] for column in entry["schema"]}

    def value(kind: str) -> Any:
        if kind == "string":
            return ("v0", "v1", "v2")[int(rng.integers(0, 3))]  # unknown categories: the encoder ignores them
        if kind == "integer":
            return int(rng.integers(0, 100))
        if kind == "boolean":
            return bool(rng.random() < 0.5)
        return round(float(rng.normal(50, 20)), 2)

    return [{name: value(types[name]) for name in features} for _ in range(n_rows)]


def csv_of(features: list[str], rows: list[Any]) -> bytes:
    def cell(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    lines = [",".join(features)] + [",".join(cell(row[name] if isinstance(row, dict) else row[j])
                                             for j, name in enumerate(features)) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def every_model(lab: Lab, n_rows: int = MODEL_ROWS) -> None:
    """Every model GET /models lists, each version: a CSV job and a Parquet job, row for row as the API scores."""
    import pyarrow as pa

    with client() as predq:
        listed = predq.models()
        entries = [version for entry in listed for version in predq.model(entry["name"])["versions"]]
    say(f"models: a {n_rows:,}-row CSV job and a Parquet job for each of the {len(entries)} model versions "
        f"GET /models lists ({', '.join(sorted({e['name'] for e in entries}))})")
    for seed, entry in enumerate(entries):
        name, version, features = entry["name"], str(entry["version"]), list(entry["features"])
        rows = model_rows(entry, n_rows, seed)
        expected = expected_results(rows, model=name, version=version)
        columns = {f: [row[f] if isinstance(row, dict) else row[j] for row in rows] for j, f in enumerate(features)}
        for kind, body, fmt in (("CSV", csv_of(features, rows), "csv"), ("Parquet", pa.table(columns), None)):
            with client() as predq:
                job = predq.submit(body, model=name, version=version, format=fmt)
            job = wait_job(job.job_id)
            results = results_of(job.job_id) if job.status == "succeeded" else []
            differ = sum(not same(a, b) for a, b in zip(results, expected, strict=False))
            check(job.status == "succeeded" and len(results) == n_rows and differ == 0,
                  f"{name} v{version}, {kind}: {job.status}, {len(results):,} results, as POST "
                  f"/models/{name}/predict answers ({differ} differ)")


def scale_up(lab: Lab, rows: list[list[float]], expected: list[Any]) -> None:
    say("scale: docker compose up --detach --scale worker=3")
    old = set(lab.containers("worker"))
    started = time.perf_counter()
    lab.compose("up", "--detach", "--no-recreate", "--scale", "worker=3", "worker")
    new = sorted(set(lab.containers("worker")) - old)
    check(len(new) == 1, f"one new worker container: {new}")
    waited = wait_for("3 live workers", lambda: workers_alive() == 3, 60)
    node = public_node(lab.node_of(new[0]))  # as /metrics labels it (no host name)
    say(f"  {new[0]} is node {node}, alive {waited:.1f}s after the scale command")
    before = chunks_by_node()
    job = wait_job(submit(rows).job_id)
    check_job(job, rows, expected)
    took = delta(chunks_by_node(), before)
    say(f"  chunks per worker node: {took}")
    check(took.get(node, 0) > 0, f"the new node {node} took {took.get(node, 0)} chunks")
    say(f"  (scale to first chunk on the new node: {time.perf_counter() - started:.1f}s)")


def stop_mid_job(lab: Lab, n_rows: int) -> None:
    X, _ = demo_rows(n_rows)
    rows = X.tolist()
    say(f"stop: a {n_rows:,}-row job, then `docker stop` (10 s grace) on a worker in the middle of it")
    expected = expected_results(rows)
    victim = lab.containers("worker")[0]
    node = public_node(lab.node_of(victim))  # as /metrics labels it (no host name)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    before = chunks_by_node()
    rows_before = rows_scored().get(MODEL, 0)
    job = submit(rows)
    job_id, total = job.job_id, job.progress.chunks_total
    say(f"  202: job {job_id[:8]}…, {total} chunks; victim {victim} ({node})")

    def victim_started() -> bool:
        return chunks_by_node().get(node, 0) > before.get(node, 0)

    wait_for("the victim's first chunk of the job", victim_started, 120, every=0.05)
    with client() as predq:
        at_stop = predq.job(job_id).progress.chunks_done
    stop_started = time.perf_counter()
    run(["docker", "stop", "--time", "10", victim])
    stop_took = time.perf_counter() - stop_started
    with client() as predq:
        after_stop = predq.job(job_id)
    state = run(["docker", "inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", victim]).split()
    say(f"  docker stop returned after {stop_took:.1f}s; the job had {at_stop}/{total} chunks done at the stop and "
        f"{after_stop.progress.chunks_done}/{total} when it returned; exit code {state[0]}")
    check(0 < at_stop < total, f"the stop came in the middle of the job ({at_stop}/{total} chunks done)")
    check(stop_took < 10 and state[0] == "0",
          "the worker shut down by itself inside the grace period (exit 0, no SIGKILL)")
    shutdown = [line for line in run(["docker", "logs", "--since", since, victim]).splitlines()
                if re.search(r"shutdown|restoring", line, re.I)]
    for line in shutdown[-4:]:
        say(f"    {victim}: {line.strip()[:140]}")
    job = wait_job(job_id)
    check_job(job, rows, expected)
    took = delta(chunks_by_node(), before)
    # A bulk body is scored as it is read: chunks finished before the job was accepted ("held") count in
    # predq_rows_scored at acceptance, not per node, so the exactly-once check is on rows.
    say(f"  chunks per worker node after acceptance: {took} ({total - sum(took.values())} scored while the "
        "body was read, before the 202)")
    counted = int(rows_scored().get(MODEL, 0) - rows_before)
    check(sum(took.values()) <= total and counted == n_rows,
          f"{counted:,} rows counted scored for {n_rows:,} rows: each chunk recorded exactly once")
    skipped = sum(run(["docker", "logs", "--since", since, c]).count("not run: done")
                  for c in lab.containers("worker"))
    say(f"  redelivered chunks that were already done and skipped: {skipped}")
    wait_for("2 live workers after the stop", lambda: workers_alive() == 2, 30)
    check(True, "readiness counts 2 live workers after the stop")


def own_models(lab: Lab) -> None:
    """docker-compose.models.yml: a host folder of models over MODEL_DIR, read-only, without a rebuild."""
    from sklearn.datasets import load_iris

    from scripts.make_models import DEMO_MODELS
    from shared.registry import write_model

    say("models: docker compose ... -f docker-compose.models.yml up (a host folder over MODEL_DIR, no rebuild)")
    folder = REPO / ".stack" / "docker-smoke-models"
    shutil.rmtree(folder, ignore_errors=True)
    builds = {(name, version): build for name, version, build in DEMO_MODELS}
    for name, version, (source, source_version) in (("iris", 1, ("iris", 1)), ("team-model", 1, ("iris", 2))):
        built = builds[(source, source_version)]()
        write_model(folder, name, version, *built[:3])
    lab.files.append("docker-compose.models.yml")
    lab.env["MODELS_PATH"] = str(folder)
    try:
        lab.compose("up", "--detach", "--scale", "worker=2", "api", "worker")
        wait_for("the API and 2 workers on the mounted models", lambda: workers_alive() == 2 and
                 {m["name"] for m in http("GET", "/models")["models"]} == {"iris", "team-model"}, 90, every=0.5)
        check(True, "GET /models lists the mounted folder's models (iris, team-model), not the baked ones")
        rows = (load_iris().data.round(1).tolist() * 7)[:1000]
        job = wait_job(submit(rows, model="team-model").job_id)
        expected = http("POST", "/models/team-model/predict", {"instances": rows})["results"]
        check(job.status == "succeeded" and results_of(job.job_id) == expected,
              f"a {len(rows):,}-row job on team-model scored by the workers from the mounted folder")
        out = run(["docker", "exec", lab.containers("worker")[0], "sh", "-c",
                   "touch /srv/predq/models/x 2>&1 || true"]).strip()
        check("Read-only file system" in out, "the mounted model folder is read-only in the containers")
    finally:
        lab.files.remove("docker-compose.models.yml")
        shutil.rmtree(folder, ignore_errors=True)


def monitoring(lab: Lab) -> None:
    say("monitoring profile: WORKER_MONITORING=1, docker compose --profile monitoring up ... flower (workers "
        "recreated; Prometheus and Grafana are pulled images, which this engine cannot pull)")
    lab.write_env(worker_monitoring=1)
    lab.compose("up", "--detach", "--scale", "worker=2", "redis", "api", "worker", "flower")
    flower = f"http://127.0.0.1:{PORTS['flower']}"

    def flower_sees_workers() -> bool:
        try:
            return len(http("GET", "/api/workers?refresh=1", base=flower, auth=lab.flower_auth, timeout=10)) == 2
        except (urllib.error.URLError, OSError, ValueError):
            return False

    waited = wait_for("Flower to list 2 workers", flower_sees_workers, 120, every=1)
    check(http("GET", "/healthcheck", base=flower) == "OK", f"Flower healthy, lists the 2 workers ({waited:.1f}s)")
    try:
        http("GET", "/api/workers", base=flower, timeout=5)
        raise SmokeError("Flower answered its API without a login")
    except urllib.error.HTTPError as exc:
        check(exc.code == 401, "Flower refuses its API without a login (401)")


def teardown(lab: Lab) -> None:
    say("down: docker compose down --volumes --remove-orphans")
    lab.profiles = ["--profile", "monitoring"]
    lab.compose("down", "--volumes", "--remove-orphans", "--timeout", "15")
    left = run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]).split()
    volumes = run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]).split()
    say(f"  containers left: {len(left)}, volumes left: {len(volumes)}")
    (REPO / ENV_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build and exercise the Docker compose stack.")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    parser.add_argument("--no-flower", action="store_true", help="skip the monitoring profile")
    parser.add_argument("--stop-rows", type=int, default=200_000, help="rows of the job a worker is stopped in")
    args = parser.parse_args(argv)
    lab = Lab(monitoring=not args.no_flower)
    failed = False
    try:
        preflight()
        build(lab)
        lab.profiles = []
        start(lab)
        X, _ = demo_rows(FIRST_ROWS)
        rows = X.tolist()
        expected = first_job(lab, rows)
        every_model(lab)
        scale_up(lab, rows, expected)
        stop_mid_job(lab, args.stop_rows)
        own_models(lab)
        if not args.no_flower:
            lab.profiles = ["--profile", "monitoring"]
            monitoring(lab)
    except (SmokeError, PredqError, urllib.error.URLError, KeyError) as exc:
        failed = True
        say(f"FAILED: {exc}")
        lab.dump_logs()
    except KeyboardInterrupt:
        failed = True
    finally:
        if args.keep and not failed:
            say(f"kept running: docker compose -p {PROJECT} -f docker-compose.yml -f docker-compose.host.yml "
                f"--env-file {ENV_FILE} down --volumes   # to stop it")
        else:
            teardown(lab)
    say("docker-smoke: " + ("FAILED" if failed else "passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
