"""`python -m worker.health`: exit 0 when this container's worker node has a fresh heartbeat.

Docker's HEALTHCHECK runs it; remote control is off, so `celery inspect ping` cannot answer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from celery.utils.nodenames import default_nodename, host_format

from shared import workers
from shared.redis_client import connect
from shared.settings import Settings

WORKER_CMDLINE = Path("/proc/1/cmdline")
"""In a container the worker is PID 1 (exec-form CMD); its arguments name the node."""


def node_name(environ: Mapping[str, str] = os.environ, cmdline: Path = WORKER_CMDLINE) -> str:
    """This container's node: WORKER_NODE, else the --hostname/-n PID 1 runs with, else celery@<hostname>."""
    if environ.get("WORKER_NODE"):
        return environ["WORKER_NODE"]
    try:
        argv = cmdline.read_bytes().decode(errors="replace").split("\0")
    except OSError:
        argv = []
    return str(host_format(default_nodename(_hostname_option(argv))))


def _hostname_option(argv: Sequence[str]) -> str | None:
    """The value of celery worker's -n/--hostname in `argv` (the last one wins, as in click)."""
    found = None
    for i, arg in enumerate(argv):
        if arg in ("-n", "--hostname") and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--hostname="):
            found = arg.partition("=")[2]
    return found


def main() -> int:
    node = node_name()
    client = connect(Settings.from_env().redis_url, timeout=3)
    fresh = any(worker_id.split("|", 1)[0] == node for worker_id in workers.alive_ids(client))
    print(f"{node}: {'alive' if fresh else 'no recent heartbeat'}")
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
