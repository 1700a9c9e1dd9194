"""A small synchronous client for a whisperd server (or any server with the OpenAI Audio API).

``whisperd transcribe`` and ``whisperd doctor`` use it from client machines. It finds the server the way
the reference design's script and the OpenAI SDKs do (``WHISPER_API_URL``, then ``OPENAI_BASE_URL``),
retries briefly while a server restarts or loads its model, reports upload progress, and turns every
failure into one :class:`ServerError` whose message says what happened.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

__all__ = [
    "DEFAULT_URL",
    "CountingReader",
    "ServerError",
    "WhisperdClient",
    "api_key_from",
    "error_message",
    "server_root",
    "server_url_from",
]

DEFAULT_URL = "http://localhost:5000"
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
_ENDPOINT_SUFFIXES = ("/audio/transcriptions", "/audio/translations", "/audio", "/v1")


class ServerError(Exception):
    """A request failed. ``fatal`` means every later request to this server would fail the same way."""

    def __init__(self, message: str, *, status: int | None = None, fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.fatal = fatal


def server_root(url: str) -> str:
    """``http://host:5000`` from a root, a ``/v1`` base URL or a full endpoint URL."""
    root = url.strip().rstrip("/")
    for suffix in _ENDPOINT_SUFFIXES:
        root = root.removesuffix(suffix)
    if "://" not in root:
        root = "http://" + root
    return root


def server_url_from(explicit: str | None, environ: Mapping[str, str]) -> str:
    """``--server``, else ``WHISPER_API_URL`` (the script's variable), else ``OPENAI_BASE_URL``."""
    for candidate in (explicit, environ.get("WHISPER_API_URL"), environ.get("OPENAI_BASE_URL")):
        if candidate and candidate.strip():
            return server_root(candidate)
    return DEFAULT_URL


def api_key_from(environ: Mapping[str, str]) -> str | None:
    return environ.get("WHISPER_API_KEY") or environ.get("OPENAI_API_KEY") or None


def error_message(response: httpx.Response) -> str:
    """The OpenAI-shaped error's message, or the start of whatever body came back."""
    try:
        message = response.json()["error"]["message"]
        if isinstance(message, str):
            return message
    except (ValueError, KeyError, TypeError):
        pass
    text = response.text.strip()
    return text[:300] or response.reason_phrase


class CountingReader:
    """A binary file that reports how many bytes have been read (the upload's progress)."""

    def __init__(self, handle: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._handle = handle
        self._on_read = on_read
        self._position = 0
        self.name = handle.name

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self._position += len(chunk)
        self._on_read(self._position)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._position = self._handle.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()


class WhisperdClient:
    """Requests to one server, with a bearer key when given."""

    def __init__(self, root: str, key: str | None = None, *, retry_seconds: float = 30.0) -> None:
        self.root = server_root(root)
        self.retry_seconds = retry_seconds
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        # Long files take long: no read timeout short enough to cut off a real transcription.
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(10.0, read=3600.0))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> WhisperdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, *, timeout: float = 10.0) -> httpx.Response:
        """One GET, no retries (doctor wants to see the first answer)."""
        try:
            return self._http.get(self.root + path, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def post(self, path: str, *, files: Any, data: dict[str, str], timeout: float = 120.0) -> httpx.Response:
        """One POST, no retries (doctor times exactly one round trip)."""
        try:
            return self._http.post(self.root + path, files=files, data=data, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def send(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One request to the server; while it restarts, loads or is busy, retried for ``retry_seconds``
        (only what is safe to repeat: reads, deletes, and submits that carry an idempotency key).
        Raises ServerError for any answer that is not a success."""
        url = self.root + path
        return self._retried(lambda: self._http.request(method, url, **kwargs), url, retry=retry)

    def _retried(self, attempt: Callable[[], httpx.Response], url: str, *, retry: bool) -> httpx.Response:
        """``attempt()`` until it succeeds, the way :meth:`send` describes; the one retry policy."""
        deadline = time.monotonic() + (self.retry_seconds if retry else 0)
        while True:
            try:
                response = attempt()
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if time.monotonic() < deadline:
                    time.sleep(1.0)
                    continue
                raise self._unreachable(exc) from None
            except httpx.HTTPError as exc:
                raise ServerError(f"request to {url} failed: {exc}") from None
            if response.status_code in _TRANSIENT_STATUS and time.monotonic() < deadline:
                time.sleep(min(_retry_after(response), max(0.1, deadline - time.monotonic())))
                continue
            if response.is_success:
                return response
            raise self._refused(response)

    def transcribe(
        self,
        path: Path,
        *,
        translate: bool = False,
        model: str = "whisper-1",
        language: str | None = None,
        response_format: str = "text",
        on_upload: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """The body of a transcription or translation of ``path``, in ``response_format``."""
        endpoint = f"{self.root}/v1/audio/{'translations' if translate else 'transcriptions'}"
        data = {"model": model, "response_format": response_format}
        if language:
            data["language"] = language
        size = path.stat().st_size
        report = None if on_upload is None else _sized(on_upload, size)

        def attempt() -> httpx.Response:  # the file is read again from its start at each attempt
            with path.open("rb") as handle:
                upload: Any = handle if report is None else CountingReader(handle, report)
                return self._http.post(endpoint, files={"file": (path.name, upload)}, data=data)

        return self._retried(attempt, endpoint, retry=True).content

    def _unreachable(self, exc: httpx.HTTPError) -> ServerError:
        return ServerError(
            f"cannot reach the server at {self.root} ({type(exc).__name__}: {exc}); is it running? "
            "Set --server or WHISPER_API_URL to its address.",
            fatal=True,
        )

    def _refused(self, response: httpx.Response) -> ServerError:
        status = response.status_code
        message = f"HTTP {status}: {error_message(response)}"
        if status == 401:
            message += " (set WHISPER_API_KEY or OPENAI_API_KEY to a key the server accepts)"
        # A wrong key, an unknown model or a wrong URL fails every file alike: stop early.
        return ServerError(message, status=status, fatal=status in {401, 403, 404, 405})


def _sized(on_upload: Callable[[int, int], None], size: int) -> Callable[[int], None]:
    return lambda sent: on_upload(sent, size)


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.5, min(10.0, float(response.headers.get("Retry-After", "1"))))
    except ValueError:
        return 1.0
