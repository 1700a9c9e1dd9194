"""Streaming multipart intake: form fields in memory (bounded), the audio file straight to the upload area.

Starlette's ``request.form()`` spools a whole upload before the handler sees it, so a size limit could
only be checked after the damage, and its files live outside the server's crash-swept upload folder.
Here python-multipart parses the stream while every chunk is counted as it arrives: a declared
Content-Length over the limit is refused before a byte is read, an undeclared (chunked) body is cut off
at the first byte past it, a body that stalls (nothing for ``stall_seconds``) or trickles (slower than
``min_bytes_per_second`` on average once ``grace_seconds`` have passed) is dropped with a 408, and a body
that ends without its closing boundary is a 400: python-multipart's ``finalize`` does not check that.
The upload file is closed and removed on every failure path; on success the caller owns it and must
call :meth:`ParsedForm.cleanup`.

The file's bytes are gathered in memory up to 1 MiB and written by a worker thread, so that the event
loop never waits on a disk (a job's upload may be a gigabyte); one thread hand-off per MiB costs
nothing next to the network. ``on_file_bytes`` sees each chunk's size as it arrives and may refuse it
(a job's storage quota), which stops the upload there.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from whisperd.config import UploadLimits
from whisperd.errors import InvalidRequest, MissingFile, PayloadTooLarge, UploadTimeout

__all__ = ["FILE_FIELD", "FileArea", "ParsedForm", "Upload", "receive_form"]

FILE_FIELD = "file"
_MAX_FIELDS = 64
_FORM_OVERHEAD = 1 << 20  # room for the other fields and multipart framing in a declared length
_REFERENCE_FIELDS = {"known_speaker_references", "known_speaker_references[]"}
_FLUSH_BYTES = 1 << 20


class FileArea(Protocol):
    """Where an upload's file is created: the upload area, or the jobs' data folder."""

    def new_file(self) -> tuple[int, Path]: ...


@dataclass(slots=True)
class Upload:
    """The uploaded audio, on disk."""

    path: Path
    filename: str
    size: int


@dataclass(slots=True)
class ParsedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    upload: Upload | None = None

    def cleanup(self) -> None:
        """Delete the uploaded file; safe to call more than once."""
        if self.upload is not None:
            self.upload.path.unlink(missing_ok=True)


class _Collector:
    """python-multipart callbacks that route each part to memory or to the upload file."""

    def __init__(
        self, area: FileArea, limits: UploadLimits, on_file_bytes: Callable[[int], None] | None = None
    ) -> None:
        self.area = area
        self.limits = limits
        self.max_file_bytes = limits.max_file_bytes
        self.max_field_bytes = limits.max_field_bytes
        self.on_file_bytes = on_file_bytes
        self.unwritten = bytearray()
        """File bytes received and not yet written (at most about a MiB)."""
        self.file_ended = False
        self._writing = threading.Lock()
        self.form = ParsedForm()
        self.complete = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._buffer = bytearray()
        self._fd: int | None = None
        self._is_file = False
        self._written = 0
        self._fields = 0
        self._references = 0
        self._field_limit = limits.max_field_bytes

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._buffer = bytearray()
        self._is_file = False
        self._written = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        raw_name = options.get(b"name")
        if raw_name is None:
            raise InvalidRequest("A multipart part has no name in its Content-Disposition header.")
        self._name = raw_name.decode("utf-8", "replace")
        self._fields += 1
        if self._fields > _MAX_FIELDS:
            raise InvalidRequest(f"Too many form fields (more than {_MAX_FIELDS}).")
        self._field_limit = self.max_field_bytes
        if self._name in _REFERENCE_FIELDS:  # voice clips as data URLs: larger, and few
            self._references += 1
            if self._references > self.limits.max_references:
                raise InvalidRequest(
                    f"At most {self.limits.max_references} known speaker references may be sent.",
                    param="known_speaker_references",
                )
            self._field_limit = self.limits.max_reference_bytes
        if b"filename" in options and self._name == FILE_FIELD:
            if self.form.upload is not None:
                raise InvalidRequest("Only one file may be uploaded per request.", param=FILE_FIELD)
            self._is_file = True
            self._fd, path = self.area.new_file()
            self.form.upload = Upload(path, options[b"filename"].decode("utf-8", "replace"), 0)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._is_file:
            self._written += size
            if self._written > self.max_file_bytes:
                raise PayloadTooLarge(self.max_file_bytes)
            if self.on_file_bytes is not None:
                self.on_file_bytes(size)
            self.unwritten += data[start:end]
            return
        if len(self._buffer) + size > self._field_limit:
            raise InvalidRequest(
                f"The form field '{self._name}' is longer than {self._field_limit} bytes.",
                param=self._name.removesuffix("[]"),
            )
        self._buffer += data[start:end]

    def on_part_end(self) -> None:
        if self._is_file:
            self.file_ended = True
            self._is_file = False
            assert self.form.upload is not None
            self.form.upload.size = self._written
        else:
            value = self._buffer.decode("utf-8", "replace")
            self.form.fields.setdefault(self._name, []).append(value)

    def on_end(self) -> None:
        """The closing boundary arrived: the only proof that the body is whole."""
        self.complete = True

    def flush(self) -> None:
        """Write what was received of the file; close it once its part has ended. Blocking: in a thread."""
        with self._writing:
            if self._fd is None:
                return
            view = memoryview(bytes(self.unwritten))
            self.unwritten.clear()
            while view:  # os.write may write part of a buffer
                view = view[os.write(self._fd, view) :]
            if self.file_ended:
                self._close_file()

    @property
    def needs_flush(self) -> bool:
        return len(self.unwritten) >= _FLUSH_BYTES or (self.file_ended and self._fd is not None)

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def abort(self) -> None:
        """Close the file if it is open and delete it: nothing of a failed upload is kept. Waits for a
        write still running in a thread (a cancelled request's), so the descriptor is never closed under it."""
        with self._writing:
            self._close_file()
        if self.form.upload is not None:
            self.form.upload.path.unlink(missing_ok=True)


async def _paced(request: Request, limits: UploadLimits) -> AsyncIterator[bytes]:
    """The body's chunks; raises UploadTimeout when it stalls or arrives slower than the minimum rate."""
    chunks = request.stream().__aiter__()
    started = time.monotonic()
    received = 0
    while True:
        try:
            async with asyncio.timeout(limits.stall_seconds):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadTimeout(
                f"The upload stalled: nothing arrived for {limits.stall_seconds:g} seconds."
            ) from None
        received += len(chunk)
        elapsed = time.monotonic() - started
        if elapsed > limits.grace_seconds and received < limits.min_bytes_per_second * elapsed:
            raise UploadTimeout(
                f"The upload is too slow: {received / elapsed:.0f} bytes/s, under the server's minimum of "
                f"{limits.min_bytes_per_second} bytes/s."
            )
        yield chunk


async def receive_form(
    request: Request,
    area: FileArea,
    limits: UploadLimits,
    *,
    on_file_bytes: Callable[[int], None] | None = None,
) -> ParsedForm:
    """Read the multipart body of ``request``, enforcing the limits as the bytes arrive."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data":
        raise MissingFile("The request must be multipart/form-data with the audio in the 'file' field.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequest("The multipart body has no boundary.")
    declared = request.headers.get("content-length")
    references = limits.max_references * limits.max_reference_bytes
    if (
        declared is not None
        and declared.isdigit()
        and int(declared) > limits.max_file_bytes + references + _FORM_OVERHEAD
    ):
        raise PayloadTooLarge(limits.max_file_bytes)
    collector = _Collector(area, limits, on_file_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in _paced(request, limits):
            parser.write(chunk)
            if collector.needs_flush:
                await asyncio.to_thread(collector.flush)
        parser.finalize()
        await asyncio.to_thread(collector.flush)
        if not collector.complete:
            raise InvalidRequest("The multipart body is incomplete: its closing boundary is missing.")
    except BaseException as exc:
        collector.abort()
        if isinstance(exc, Exception) and type(exc).__module__.startswith("python_multipart"):
            raise InvalidRequest("The multipart body is malformed.") from exc
        raise
    return collector.form
