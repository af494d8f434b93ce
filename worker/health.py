"""`python -m worker.health`: exit 0 when this container's worker node has a fresh heartbeat.

Docker's HEALTHCHECK runs it; remote control is off, so `celery inspect ping` cannot answer.
"""

from __future__ import annotations

import os
import socket
import sys

from shared import workers
from shared.redis_client import connect
from shared.settings import Settings


def main() -> int:
    node = os.environ.get("WORKER_NODE", f"celery@{socket.gethostname()}")
    client = connect(Settings.from_env().redis_url, timeout=3)
    fresh = any(worker_id.split("|", 1)[0] == node for worker_id in workers.alive_ids(client))
    print(f"{node}: {'alive' if fresh else 'no recent heartbeat'}")
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
