"""Redis clients built one way for every process."""

from __future__ import annotations

import redis
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

SEND_WHOLE_BYTES = 6000
"""Command arguments longer than this go to the socket as they are, not copied into one packed command."""

_PACKER = PythonRespSerializer(SEND_WHOLE_BYTES, Encoder("utf-8", "strict", False).encode)  # type: ignore[no-untyped-call]
"""redis-py packs commands with hiredis when it is installed, joining every argument into one new buffer: for
a chunk of 16 MB that copy took longer than sending it. Its Python packer hands large values (and memoryviews,
such as Arrow's buffers) to the socket without copying; replies are still parsed by hiredis."""


def connect(url: str, timeout: float = 5.0) -> redis.Redis:
    """A client that fails fast when Redis is down, instead of hanging a request."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=30, command_packer=_PACKER)
