"""gunicorn settings for `gunicorn 'api:create_app()'`; each can be overridden on the command line."""

import os
import socket
import struct
from typing import Any

from shared import logs
from shared.settings import Settings

_settings = Settings.from_env()

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread with its headers read in the event loop (api/gworker.py), chosen with scripts/load_probe.py (numbers
# in docs/hostile-clients.md): a thread per request in flight, and every way a client could hold one bounded,
# so that short requests always find one: headers must all arrive (within BODY_READ_TIMEOUT_SECONDS) before a
# request takes a thread; long polls and follow streams at most MAX_HELD_REQUESTS per process (the rest answer
# at once); bodies at most MAX_UPLOADS per process, cut off when they trickle (BODY_MIN_BYTES_PER_SECOND) or
# stall (the receive timeout below).
worker_class = "api.gworker.HeadFirstThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = None
# No control socket (gunicorn 27 opens one in $HOME by default): nothing to reach, nothing to write.
control_socket_disable = True
# gunicorn's own lines in LOG_FORMAT at LOG_LEVEL (a malformed one stops it here, naming the variable);
# no access log: the API logs one line per request itself, with its request id.
logconfig_dict = logs.gunicorn_logconfig(_settings)


def _timeval(seconds: int) -> bytes:
    return struct.pack("ll", seconds, 0)


def when_ready(server: Any) -> None:
    """Every connection accepted from here on stops waiting for a client after BODY_READ_TIMEOUT_SECONDS.

    Linux copies a listening socket's SO_RCVTIMEO/SO_SNDTIMEO to the sockets accept() makes, and gunicorn's
    setblocking(True) leaves them alone: a client that stalls mid-headers or mid-body, or stops reading a
    stream, frees its thread within the timeout instead of never."""
    seconds = _settings.body_read_timeout_seconds
    for listener in server.LISTENERS:
        sock = getattr(listener, "sock", listener)
        if sock.family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(max(seconds, 30)))


