"""Redis ACL users for predq: the API, the workers and Flower, each allowed only the commands and keys it uses.

    python -m scripts.redis_acl --env-file .env --out secrets/redis-users.acl    (`make up` runs it)

The file holds SHA-256 hashes of the passwords, never the passwords, so redis-server reads it from a Docker secret
and no password is on its command line. The `default` user is off: a connection that does not log in as one of
these users can run nothing. Nobody may run FLUSHALL, FLUSHDB, CONFIG, KEYS, SCAN, DEBUG, SHUTDOWN, ACL, MONITOR,
MODULE, REPLICAOF or SCRIPT FLUSH: every command is listed explicitly after `-@all`.

What each component uses (recorded with MONITOR over a full run, held by tests/integration/test_redis_acl.py,
which fails on any ACL denial):

* predq's own keys, all under `predq:` (shared.keys), through plain commands and Lua scripts (EVALSHA; the
  commands a script calls are checked against the same lists);
* Celery/kombu on Redis: the lane queues `<QUEUE_NAME>`, `.bulk`, `.callbacks` (lists, plus kombu's priority
  variants `<queue>\\x06\\x16<n>`), exchange bindings `_kombu.binding.*` and `_kombu.binding_permanent.*` (sets),
  `_kombu.binding_deadlines` (a sorted set kombu updates from a Lua script), and for workers the visibility
  bookkeeping `unacked`, `unacked_index`, `unacked_mutex`;
* with WORKER_MONITORING=1: remote control (each worker's `<node>.celery.pidbox` queue, replies in
  `<uuid>.reply.celery.pidbox` lists, the `/<db>.celery.pidbox` channel) and events (`/<db>.celeryev/*` channels,
  Flower's `celeryev.<uuid>` queue). PSUBSCRIBE patterns must match an allowed channel pattern literally, so the
  database number is part of them.

Known gap: Flower 2.2's Broker page (queue lengths) opens its own Redis client with the URL's password but not its
user name (flower/utils/broker.py), so with `default` off that one page shows no queues; Flower's workers, tasks
and events, which go through Celery, work as `predq-flower`. The lane lengths are in predq's own /metrics
(predq_queue_depth) and Grafana.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

USERS = {"api": "predq-api", "worker": "predq-worker", "flower": "predq-flower"}
"""The ACL user of each component (the user part of its REDIS_URL / CELERY_BROKER_URL)."""

PASSWORD_VARIABLES = {"api": "REDIS_API_PASSWORD", "worker": "REDIS_WORKER_PASSWORD",
                      "flower": "REDIS_FLOWER_PASSWORD"}
"""Where each component's password comes from (.env)."""

FORBIDDEN = ("flushall", "flushdb", "config", "keys", "scan", "debug", "shutdown", "acl", "monitor", "module",
             "replicaof", "slaveof", "save", "bgsave", "bgrewriteaof", "migrate", "restore", "script|flush",
             "script|kill", "function", "client|kill", "swapdb", "sync", "psync", "failover", "cluster")
"""Never granted to anyone (tests/unit/test_redis_acl.py holds the rendered lists to it)."""

CONNECTION = ("ping", "hello", "auth")
SCRIPTS = ("evalsha", "eval", "script|load", "script|exists")
TRANSACTIONS = ("multi", "exec", "discard", "watch", "unwatch")
DATA = (
    "get", "set", "del", "exists", "expire", "incrby", "decr", "decrby", "mget", "time",
    "hget", "hgetall", "hmget", "hset", "hdel", "hincrby", "hincrbyfloat",
    "zadd", "zcard", "zrange", "zrangebyscore", "zrevrangebyscore", "zrem", "zremrangebyscore", "zscore",
    "sadd", "srem", "sismember", "smembers",
    "lpush", "rpush", "lpop", "llen", "lrange", "lrem",
)
"""predq's own commands (plain and inside its Lua scripts) and kombu's for publishing and bindings."""

COMMANDS: dict[str, tuple[str, ...]] = {
    # INFO: the memory gauges of /metrics (API) and the noeviction check at start (workers): read-only, no secrets.
    "api": (*CONNECTION, *SCRIPTS, *TRANSACTIONS, *DATA, "info"),
    "worker": (*CONNECTION, *SCRIPTS, *TRANSACTIONS, *DATA, "info", "brpop", "publish", "psubscribe",
               "punsubscribe", "subscribe", "unsubscribe"),
    # Flower: broadcasts and their replies (remote control), the event stream, and LLEN of the lanes.
    # (TIME, EXISTS, ZRANGEBYSCORE, ZREM: inside kombu's binding scripts.)
    "flower": (*CONNECTION, *SCRIPTS, *TRANSACTIONS, "time", "exists", "brpop", "lpush", "llen", "del", "sadd",
               "srem", "smembers", "zadd", "zrangebyscore", "zrem", "publish", "psubscribe", "punsubscribe",
               "subscribe", "unsubscribe"),
}


def queue_keys(queue: str) -> list[str]:
    """Each lane's list and kombu's priority variants of it (`<queue>` + two separator bytes + a digit)."""
    return [pattern for lane in (queue, f"{queue}.bulk", f"{queue}.callbacks") for pattern in (lane, f"{lane}??[0-9]")]


def binding_keys(exchange: str) -> list[str]:
    return [f"_kombu.binding.{exchange}", f"_kombu.binding_permanent.{exchange}"]


def key_patterns(component: str, queue: str) -> list[str]:
    """The `~pattern` (read and write) and `%R~pattern` (read only) rules of one component."""
    lanes = [f"~{k}" for k in queue_keys(queue)]
    kombu = [*(f"~{k}" for k in binding_keys(queue)), "~_kombu.binding_deadlines"]
    replies = [*(f"~{k}" for k in [*binding_keys("reply.celery.pidbox"), *binding_keys("celery.pidbox"),
                                   *binding_keys("celeryev")]),
               "~*.reply.celery.pidbox", "~*.reply.celery.pidbox??[0-9]"]
    if component == "api":
        return ["~predq:*", *lanes, *kombu]
    if component == "worker":  # + the visibility bookkeeping, its own pidbox queue, and replies to Flower
        return ["~predq:*", *lanes, *kombu, "~unacked", "~unacked_index", "~unacked_mutex",
                "~*.celery.pidbox", "~*.celery.pidbox??[0-9]", *replies]
    # Flower reads the lanes' lengths only; it owns its reply and event queues.
    return [*(f"%R{k}" for k in lanes), "~_kombu.binding_deadlines", *replies, "~celeryev.*", "~celeryev.*??[0-9]"]


def channel_patterns(component: str, db: int) -> list[str]:
    """Pub/sub channels: none for the API; remote control and events for the workers and Flower."""
    if component == "api":
        return []
    return [f"&/{db}.celery.pidbox", f"&/{db}.celeryev/*"]


def user_line(component: str, password: str, queue: str, db: int) -> str:
    digest = hashlib.sha256(password.encode()).hexdigest()
    rules = ["on", f"#{digest}", "resetkeys", "resetchannels", "-@all",
             *(f"+{command}" for command in COMMANDS[component]),
             *key_patterns(component, queue), *channel_patterns(component, db)]
    return f"user {USERS[component]} {' '.join(rules)}"


def acl_file(passwords: Mapping[str, str], queue: str = "predq", db: int = 0) -> str:
    """The ACL file's text: `default` off, then one user per component of `passwords` (component -> password)."""
    lines = ["user default off resetkeys resetchannels -@all"]
    lines += [user_line(component, passwords[component], queue, db) for component in USERS]
    return "\n".join(lines) + "\n"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file (comments and blank lines skipped; no quoting, as .env.example)."""
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def passwords_from(values: Mapping[str, str]) -> dict[str, str]:
    missing = [v for v in PASSWORD_VARIABLES.values() if not values.get(v)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} (`make up` writes random ones into .env)")
    return {component: values[variable] for component, variable in PASSWORD_VARIABLES.items()}


def write_private(path: Path, text: str, mode: int) -> None:
    """Write `text` to `path` with `mode` from the first byte (never briefly readable by others)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)  # not narrowed by the umask
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Redis ACL file of predq's users.")
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    parser.add_argument("--out", type=Path, default=Path("secrets/redis-users.acl"))
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in os.environ.items() if k in PASSWORD_VARIABLES.values()}
    values = {**read_env_file(args.env_file), **overrides}
    # Hashes only, so readable by the redis user inside its container (a bind-mounted secret keeps the host's owner).
    write_private(args.out, acl_file(passwords_from(values), values.get("QUEUE_NAME") or "predq"), 0o644)
    print(f"wrote {args.out} (Redis ACL users {', '.join(USERS.values())}; password hashes only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
