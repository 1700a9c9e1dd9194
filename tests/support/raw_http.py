"""HTTP spoken by hand over a socket, for what no well-behaved client does: bodies that never end."""

from __future__ import annotations

import socket
import time

from tests.support.servers import RunningServer

__all__ = ["answer_within", "open_upload", "reply_or_close", "upload_head"]


def upload_head(declared: int, path: str = "/v1/audio/transcriptions", boundary: str = "b") -> bytes:
    """Request line and headers of a multipart upload that declares ``declared`` body bytes."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()


FILE_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'


def open_upload(server: RunningServer, declared: int = 20_000_000, first: bytes = b"") -> socket.socket:
    """A connection that has sent the headers and ``first`` bytes of a body it never finishes."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(upload_head(declared) + FILE_PART + first)
    return sock


def _complete(received: bytes) -> bool:
    """Whether ``received`` holds a whole response: its headers and as much body as they announce."""
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return True


def answer_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server has answered after at most ``seconds`` (b"" when it said nothing yet)."""
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline and not _complete(received):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


def reply_or_close(sock: socket.socket, seconds: float) -> bytes | None:
    """The server's answer, b"" if it closed the connection without one, None if it did neither yet."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return b""
