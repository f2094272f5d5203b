"""Session fixtures of the operations tests: real PostgreSQL, Redis and Chromium on 127.0.0.1.

The services come from :mod:`bench.services` (shared with the Celery benchmark). A missing server
binary is installed from Debian's packages when the tests run as root (as CI does on a fresh
machine); elsewhere the tests that need it skip, naming the package to install.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from bench.services import NotInstalled, Postgres, find_binary
from bench.services import postgres_server as start_postgres
from bench.services import redis_server as start_redis


def _enter_or_skip(stack: contextlib.ExitStack, service: Any) -> Any:
    try:
        return stack.enter_context(service)
    except NotInstalled as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster (initdb + pg_ctl) on a free loopback port."""
    with contextlib.ExitStack() as stack:
        yield _enter_or_skip(stack, start_postgres(install=True))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server on a free loopback port (no persistence); yields its URL."""
    with contextlib.ExitStack() as stack:
        yield _enter_or_skip(stack, start_redis(install=True))


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """The path of ``chromium`` (headless page rendering)."""
    try:
        return find_binary("chromium", "chromium", install=True)
    except NotInstalled as error:
        pytest.skip(str(error))


# ---------------------------------------------------------------------------------------------
# S3 fault proxy (tests/integration/test_fault_s3.py)


class S3FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of an S3 endpoint that breaks some requests.

    Each request the client sends is read whole (``Content-Length`` or chunked bodies, kept
    byte for byte), then, with probability ``fault_rate`` drawn from ``random.Random(seed)``
    (one draw per request, in arrival order), one fault picked from ``faults``:

    - ``slowdown``: answered ``503 SlowDown`` (S3's XML error) without reaching the server;
    - ``latency``: forwarded after ``latency_s`` seconds;
    - ``reset``: the client connection is reset (RST) before anything is forwarded;
    - ``cut_upload``: half the request body reaches the server, then both connections are
      reset (an upload dropped part-way; a request without a body is reset as above);
    - ``cut_response``: the server handles the request; the client gets half of the response
      (or nothing, for one without a body) and a reset.

    Everything else is forwarded unchanged (``Expect: 100-continue`` is answered by the proxy).
    :attr:`log` records ``(time, method, path, fault or "")`` of every request.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int,
        fault_rate: float,
        faults: tuple[str, ...] = ("slowdown", "latency", "reset", "cut_upload", "cut_response"),
        latency_s: float = 0.3,
    ) -> None:
        import random
        import threading
        import urllib.parse

        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.fault_rate = fault_rate
        self.faults = faults
        self.latency_s = latency_s
        self.enabled = True
        self.log: list[tuple[float, str, str, str]] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: Any = None
        self._threads: list[Any] = []
        self._sockets: set[Any] = set()
        self.endpoint = ""

    # -- lifecycle

    def __enter__(self) -> "S3FaultProxy":
        import socket
        import threading

        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        thread = threading.Thread(target=self._accept, name="s3-fault-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        import socket

        self._stop.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # wakes the connection threads blocked in recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        import threading

        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- one client connection

    def _choose(self, method: str, path: str) -> str:
        import time

        with self._lock:
            draw, pick = self._random.random(), self._random.choice(self.faults)
            fault = pick if self.enabled and draw < self.fault_rate else ""
            self.log.append((time.monotonic(), method, path, fault))
        return fault

    def _serve(self, client: Any) -> None:
        import time

        client.settimeout(30)
        with self._lock:
            self._sockets.add(client)
        reader = _SocketReader(client)
        upstream = None
        try:
            while not self._stop.is_set():
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                method, path, headers = _parse_head(head)
                if headers.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = _without_header(head, b"expect")
                body = reader.body(headers)
                fault = self._choose(method, path)
                if fault == "slowdown":
                    client.sendall(_SLOWDOWN)
                    continue
                if fault == "reset" or (fault == "cut_upload" and not body):
                    _reset(client)
                    return
                if fault == "latency":
                    time.sleep(self.latency_s)
                if upstream is None:
                    upstream = _Upstream(self.upstream)
                if fault == "cut_upload":
                    upstream.sock.sendall(head + body[: len(body) // 2])
                    time.sleep(0.05)
                    _reset(upstream.sock)
                    _reset(client)
                    upstream = None
                    return
                upstream.sock.sendall(head + body)
                response, keep_alive = upstream.response(method)
                if fault == "cut_response":
                    head_end = response.index(b"\r\n\r\n") + 4
                    body_len = len(response) - head_end
                    if body_len:
                        client.sendall(response[: head_end + body_len // 2])
                    _reset(client)
                    return
                client.sendall(response)
                if not keep_alive:
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets.discard(client)
            client.close()
            if upstream is not None:
                upstream.sock.close()


_SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>FAULTPROXY</RequestId>"
    b"</Error>"
)
_SLOWDOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
    + f"Content-Length: {len(_SLOWDOWN_BODY)}\r\n\r\n".encode()
    + _SLOWDOWN_BODY
)


def _reset(sock: Any) -> None:
    """Close ``sock`` with a TCP reset (SO_LINGER 0), as a dropped connection looks."""
    import socket
    import struct

    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return first[0], first[1] if len(first) > 1 else "", headers


def _without_header(head: bytes, name: bytes) -> bytes:
    lines = head.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(name + b":")]
    return b"\r\n".join(kept)


class _SocketReader:
    """Buffered reads of HTTP messages from a socket, the raw bytes kept."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def until(self, marker: bytes) -> bytes | None:
        """Bytes up to and including ``marker``; None when the peer closed first."""
        while marker not in self.buffer:
            if not self._fill():
                return None
        end = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:end], self.buffer[end:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not self._fill():
                raise ConnectionError("peer closed inside a message")
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def body(self, headers: dict[str, str]) -> bytes:
        """The raw body after a head with ``headers`` (chunk framing kept)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raw = b""
            while True:
                line = self.until(b"\r\n")
                if line is None:
                    raise ConnectionError("peer closed inside a chunked body")
                raw += line
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, then the empty line
                        trailer = self.until(b"\r\n")
                        if trailer is None:
                            raise ConnectionError("peer closed inside chunk trailers")
                        raw += trailer
                        if trailer == b"\r\n":
                            return raw
                raw += self.exactly(size + 2)
        return self.exactly(int(headers.get("content-length", "0") or 0))

    def rest(self) -> bytes:
        while self._fill():
            pass
        out, self.buffer = self.buffer, b""
        return out


class _Upstream:
    """One keep-alive connection to the S3 server."""

    def __init__(self, address: tuple[str, int]) -> None:
        import socket

        self.sock = socket.create_connection(address, timeout=30)
        self.reader = _SocketReader(self.sock)

    def response(self, method: str) -> tuple[bytes, bool]:
        """The whole raw response to a ``method`` request, and whether the connection stays."""
        head = self.reader.until(b"\r\n\r\n")
        while head is not None and head.split(b" ", 2)[1].startswith(b"1"):
            head = self.reader.until(b"\r\n\r\n")  # skip 1xx interim responses
        if head is None:
            raise ConnectionError("S3 server closed the connection")
        _, _, headers = _parse_head(head)
        status = int(head.split(b" ", 2)[1])
        keep_alive = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            return head, keep_alive
        if "content-length" in headers or "chunked" in headers.get("transfer-encoding", ""):
            return head + self.reader.body(headers), keep_alive
        return head + self.reader.rest(), False


@pytest.fixture()
def s3_fault_proxy(s3_server):
    """A factory: ``s3_fault_proxy(seed=..., fault_rate=...)`` starts an :class:`S3FaultProxy`
    in front of the session's S3 server and returns it (its ``endpoint`` is the URL to use);
    every proxy started is stopped at the end of the test."""
    endpoint, _ = s3_server
    with contextlib.ExitStack() as stack:

        def start(**kwargs: Any) -> "S3FaultProxy":
            return stack.enter_context(S3FaultProxy(endpoint, **kwargs))

        yield start
