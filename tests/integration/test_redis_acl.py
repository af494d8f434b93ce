"""Redis ACL users over the real stack: a redis-server loaded with scripts/redis_acl.py's file, the API and a worker
each logged in as its own user, Flower's user inspecting the workers; nothing they do is denied, and what none of
them needs (FLUSHALL, CONFIG, KEYS, DEBUG, keys outside their patterns) is refused. No password shows anywhere."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from celery import Celery

from scripts.embedded_redis import EmbeddedRedis
from scripts.redis_acl import USERS, acl_file
from scripts.stack import BIN, LocalStack
from shared.settings import REPO_ROOT
from tests.integration.support import JOB_TIMEOUT, Api, start_stack, wait_for
from tests.integration.test_callbacks import Receiver

pytestmark = pytest.mark.integration

PASSWORDS = {component: f"{component}-{secrets.token_hex(16)}" for component in USERS}
ADMIN = ("acl-test-admin", secrets.token_hex(16))
"""The test's own user, to read ACL LOG and CLIENT LIST (not in the generated file)."""

FORBIDDEN = [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("KEYS", "*"), ("SCAN", "0"),
             ("DEBUG", "SLEEP", "0"), ("ACL", "LIST"), ("SHUTDOWN", "NOSAVE"), ("SCRIPT", "FLUSH")]


def url_of(redis_server: EmbeddedRedis, component: str) -> str:
    return f"redis://{USERS[component]}:{PASSWORDS[component]}@127.0.0.1:{redis_server.port}/0"


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    folder = tmp_path_factory.mktemp("acl")
    admin = f"user {ADMIN[0]} on #{hashlib.sha256(ADMIN[1].encode()).hexdigest()} ~* &* +@all\n"
    (folder / "users.acl").write_text(acl_file(PASSWORDS) + admin)
    # DEBUG enabled in the server, so that it is the ACL that refuses it (Redis 7 refuses it anyway by default).
    server = EmbeddedRedis(extra_args=["--aclfile", str(folder / "users.acl"), "--enable-debug-command", "yes"],
                           login=ADMIN)
    if server.binary is None:
        pytest.skip("redis-server is not on PATH")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(acl_redis: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(acl_redis.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def acl_stack(acl_redis: EmbeddedRedis, stack_model_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The API and one worker (heartbeat on, as in the images), remote control and events on (so the worker's pidbox
    and events are exercised),
    callbacks to a local receiver allowed (the callbacks queue too), 100-row chunks (a 1,500-row job is bulk)."""
    env = {"WORKER_MONITORING": "1", "CHUNK_ROWS": "100", "TARGET_CHUNK_SECONDS": "0", "SMALL_JOB_ROWS": "1000",
           "CALLBACK_ALLOWED_HOSTS": "127.0.0.1:*", "CALLBACK_PRIVATE_HOSTS": "127.0.0.1",
           "CALLBACK_SECRET": "acl-test-secret-" + "0123456789" * 3}
    stack = LocalStack(workers=1, env=env, redis_url=url_of(acl_redis, "api"), model_dir=str(stack_model_dir),
                       worker_env={"REDIS_URL": url_of(acl_redis, "worker")}, worker_heartbeat=True,
                       log_dir=str(tmp_path_factory.mktemp("acl-stack-logs")))
    with start_stack(stack) as running:
        yield running


def denials(admin: redis.Redis) -> list[dict[str, Any]]:
    return list(admin.acl_log())


def test_the_api_and_a_worker_score_jobs_and_deliver_a_callback_each_as_its_own_user_with_nothing_denied(
        acl_stack: LocalStack, admin: redis.Redis) -> None:
    admin.acl_log_reset()
    receiver = Receiver(failures=0)
    with Api(acl_stack.base_url) as api:
        small = api.submit({"instances": [[5.1, 3.5, 1.4, 0.2]] * 250, "callback_url": receiver.url})["job_id"]
        bulk = api.submit({"instances": [[6.7, 3.0, 5.2, 2.3]] * 1500})["job_id"]  # the bulk lane and its scheduler
        assert api.wait(small)["status"] == "succeeded"
        assert api.wait(bulk)["status"] == "succeeded"
        assert len(api.results(bulk, limit=2000)) == 1500
        wait_for(lambda: receiver.received, JOB_TIMEOUT, "the callback")
        assert api.get("/metrics").status_code == 200
    receiver.server.shutdown()
    users = {client["user"] for client in admin.client_list()}
    assert {USERS["api"], USERS["worker"]} <= users
    assert denials(admin) == []


def test_flower_s_user_inspects_the_workers_reads_their_events_and_the_lane_lengths_and_nothing_more(
        acl_stack: LocalStack, acl_redis: EmbeddedRedis, admin: redis.Redis) -> None:
    admin.acl_log_reset()
    flower_url = url_of(acl_redis, "flower")
    ping = subprocess.run([str(BIN / "celery"), "--broker", flower_url, "inspect", "ping", "--timeout", "5"],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

    events: list[str] = []
    failures: list[BaseException] = []
    app = Celery(broker=flower_url, set_as_current=False)

    def capture() -> None:
        try:
            with app.connection() as connection:
                receiver: Any = None

                def on_event(event: dict[str, Any]) -> None:
                    events.append(event["type"])
                    receiver.should_stop = True

                receiver = app.events.Receiver(connection, handlers={"*": on_event})
                receiver.capture(limit=None, timeout=JOB_TIMEOUT)  # until the first event
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    thread.join(JOB_TIMEOUT)  # the worker's heartbeat events come every 2 s
    assert not failures and events, f"no event reached Flower's user: {failures} {denials(admin)}"

    flower = redis.Redis.from_url(flower_url)
    assert flower.llen("predq") == 0 and flower.llen("predq.bulk") == 0
    with pytest.raises(redis.exceptions.NoPermissionError):
        flower.lpush("predq", b"a forged task message")  # Flower reads the lanes, never writes them
    with pytest.raises(redis.exceptions.NoPermissionError):
        flower.hgetall("predq:metrics")
    flower.close()
    assert {(d["username"], d["reason"], d["object"]) for d in denials(admin)} == {
        (USERS["flower"], "key", "predq"), (USERS["flower"], "command", "hgetall")}  # only the two tried here


@pytest.mark.parametrize("component", sorted(USERS))
@pytest.mark.parametrize("command", FORBIDDEN, ids=lambda c: " ".join(c))
def test_no_user_may_flush_configure_list_keys_or_debug(acl_redis: EmbeddedRedis, component: str,
                                                        command: tuple[str, ...]) -> None:
    client = redis.Redis.from_url(url_of(acl_redis, component))
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)
    finally:
        client.close()


@pytest.mark.parametrize("component", sorted(USERS))
def test_keys_outside_a_user_s_patterns_are_refused(acl_redis: EmbeddedRedis, component: str) -> None:
    client = redis.Redis.from_url(url_of(acl_redis, component))
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.lpush("someone-else:queue", b"x")
    finally:
        client.close()


def test_the_default_user_is_off(acl_redis: EmbeddedRedis) -> None:
    anonymous = redis.Redis(port=acl_redis.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.get("predq:anything")
    wrong = redis.Redis(port=acl_redis.port, username=USERS["api"], password="not-the-password")
    with pytest.raises(redis.exceptions.AuthenticationError):
        wrong.ping()


def test_no_password_shows_in_readyz_metrics_problems_or_logs(acl_stack: LocalStack) -> None:
    shown = [requests.get(acl_stack.base_url + path, timeout=10).text
             for path in ("/readyz", "/metrics", "/jobs/no-such-job", "/no-such-route")]
    shown += [path.read_text(errors="replace") for path in Path(acl_stack.log_dir).glob("*.log")]
    for text in shown:
        for password in PASSWORDS.values():
            assert password not in text


def test_an_api_with_a_wrong_redis_password_answers_503_and_shows_it_nowhere(
        acl_redis: EmbeddedRedis, stack_model_dir: Path, tmp_path: Path) -> None:
    wrong = "wrong-" + secrets.token_hex(12)
    stack = LocalStack(workers=0, redis_url=f"redis://{USERS['api']}:{wrong}@127.0.0.1:{acl_redis.port}/0",
                       model_dir=str(stack_model_dir), log_dir=str(tmp_path), api_workers=1)
    stack.start_api()
    try:
        wait_for(lambda: _answers(stack.base_url + "/healthz"), 60, "the API to answer")
        answers = [requests.get(stack.base_url + "/readyz", timeout=10),
                   requests.post(stack.base_url + "/jobs", json={"instances": [[5.1, 3.5, 1.4, 0.2]]}, timeout=10),
                   requests.get(stack.base_url + "/metrics", timeout=10)]
    finally:
        stack.stop()
    assert answers[0].status_code == 503 and answers[1].status_code == 503
    shown = [a.text for a in answers] + [p.read_text(errors="replace") for p in tmp_path.glob("*.log")]
    assert not [text for text in shown if wrong in text]


def _answers(url: str) -> bool | None:
    try:
        return requests.get(url, timeout=2).status_code == 200 or None
    except requests.RequestException:
        return None
