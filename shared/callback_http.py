"""HTTP(S) connections pinned to one checked address, with the URL's host name kept for Host, SNI and the
certificate check.

http.client and urllib resolve the host name themselves when they connect; a callback host whose DNS answers a
public address to predq's check and a private one a moment later (DNS rebinding) would then be reached at the
private one. These connections never resolve: they connect to the address they are given.
"""

from __future__ import annotations

import http.client
import socket
import ssl


class PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to `address`, speaking to `host` (the Host header is built from `host` and `port`)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address`; the TLS handshake names `host` (SNI) and the certificate must be valid for it."""

    def __init__(self, host: str, port: int, address: str, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls or ssl.create_default_context()  # the system's CAs, hostname checked
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def pinned_connection(scheme: str, host: str, port: int, address: str, timeout: float,
                      tls: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    """A connection for `scheme` (http or https) to `host`:`port` that reaches `address` only; `tls` (tests)
    replaces the default context for https."""
    if scheme == "https":
        return PinnedHTTPSConnection(host, port, address, timeout, tls)
    return PinnedHTTPConnection(host, port, address, timeout)
