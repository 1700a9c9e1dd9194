"""The error tree: every failure a client can see, with what OpenAI's error shape needs to render it.

    WhisperdError (status, type, code, param; retryable; retry_after)
    ├── InvalidRequest ................ 400 invalid_request_error
    │   ├── MissingFile, EmptyFile
    │   ├── InvalidAudio .............. undecodable bytes ("Invalid file format ...")
    │   ├── AudioTooLong, DecodeTimeout
    │   ├── InvalidParameter .......... a field with a bad value (param names it)
    │   ├── EmptyAudioBuffer .......... a live commit of less than 100 ms of audio
    │   ├── AudioBufferFull ........... a live buffer that reached its limit
    │   └── InvalidEvent .............. a socket message that is not a well-formed event (Wyoming)
    ├── AuthenticationFailed .......... 401 invalid_request_error / invalid_api_key
    ├── Forbidden ..................... 403 invalid_request_error / client_not_allowed (by address)
    ├── NotFound ...................... 404 invalid_request_error (an unknown path)
    │   ├── ModelNotFound ............. 404 invalid_request_error / model_not_found
    │   └── JobNotFound ............... 404 invalid_request_error / job_not_found (or another key's)
    ├── MethodNotAllowed .............. 405 invalid_request_error
    ├── UploadTimeout ................. 408 invalid_request_error / upload_timeout (body stalled)
    ├── ModelInUse .................... 409 invalid_request_error / model_in_use
    ├── JobNotFinished ................ 409 invalid_request_error / job_not_finished (no result yet)
    ├── PayloadTooLarge ............... 413 invalid_request_error / file_too_large
    ├── QueueFull ..................... 429 requests / rate_limit_exceeded, Retry-After
    │   └── QuotaExceeded ............. 429 requests / quota_exceeded (jobs queued, audio stored)
    ├── NotReady ...................... 503 server_error / model_loading, Retry-After
    │   └── ModelCapacity ............. 503 server_error / model_capacity (every model slot leased)
    └── InternalError ................. 500 server_error (never carries a stack trace)

Nothing here knows a protocol: the HTTP front end renders :meth:`WhisperdError.body` with
:attr:`~WhisperdError.status` and :meth:`~WhisperdError.headers` (``whisperd.http.responses``), a
WebSocket or Wyoming front end puts the same fields in its own error event. Deterministic failures carry
``x-should-retry: false`` so that the official SDKs do not send the same doomed request three times;
transient ones carry ``Retry-After``.

Errors are values that cross processes unchanged: a replica of a cluster raises one and the ingress
renders it, so every error pickles as its class and fields, whatever its constructor takes.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioBufferFull",
    "AudioTooLong",
    "AuthenticationFailed",
    "DecodeTimeout",
    "EmptyAudioBuffer",
    "EmptyFile",
    "Forbidden",
    "InternalError",
    "InvalidAudio",
    "InvalidEvent",
    "InvalidParameter",
    "InvalidRequest",
    "JobNotFinished",
    "JobNotFound",
    "MethodNotAllowed",
    "MissingFile",
    "ModelCapacity",
    "ModelInUse",
    "ModelNotFound",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "QueueFull",
    "QuotaExceeded",
    "UploadTimeout",
    "WhisperdError",
]

SUPPORTED_FORMATS = "['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"


class WhisperdError(Exception):
    """An error that the client should see, with everything needed to render it."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, param: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as class and fields: subclasses' constructors take other arguments than ``args``."""
        return (_restore, (type(self), self.message, self.param, self.retry_after))

    def detail(self) -> dict[str, Any]:
        """The inner error object (what a realtime ``error`` event carries)."""
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    def body(self) -> dict[str, Any]:
        """OpenAI's error body, ``{"error": {message, type, param, code}}``: the one shape of every failure."""
        return {"error": self.detail()}

    def headers(self) -> dict[str, str]:
        """Headers that tell clients whether, and when, to try again."""
        headers = {"x-should-retry": "true" if self.retryable else "false"}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class InvalidRequest(WhisperdError):
    status = 400
    type = "invalid_request_error"


class MissingFile(InvalidRequest):
    code = "missing_file"

    def __init__(
        self, message: str = "No file was uploaded: send the audio in the 'file' form field."
    ) -> None:
        super().__init__(message, param="file")


class EmptyFile(InvalidRequest):
    code = "empty_file"

    def __init__(self, message: str = "The uploaded file is empty.") -> None:
        super().__init__(message, param="file")


class InvalidAudio(InvalidRequest):
    code = "invalid_file_format"

    def __init__(self, detail: str | None = None) -> None:
        message = f"Invalid file format. Supported formats: {SUPPORTED_FORMATS}"
        if detail:
            message += f" ({detail})"
        super().__init__(message, param="file")


class AudioTooLong(InvalidRequest):
    code = "audio_too_long"

    def __init__(self, limit_seconds: float) -> None:
        super().__init__(f"Audio is longer than the maximum of {limit_seconds:g} seconds.", param="file")


class DecodeTimeout(InvalidRequest):
    code = "decode_timeout"

    def __init__(self, limit_seconds: float) -> None:
        super().__init__(
            f"The file could not be decoded within {limit_seconds:g} seconds; it may be corrupt.",
            param="file",
        )


class InvalidParameter(InvalidRequest):
    code = "invalid_value"

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message, param=param)


class EmptyAudioBuffer(InvalidRequest):
    code = "input_audio_buffer_commit_empty"


class AudioBufferFull(InvalidRequest):
    code = "input_audio_buffer_full"

    def __init__(self, message: str) -> None:
        super().__init__(message, param="audio")


class InvalidEvent(InvalidRequest):
    """A socket protocol's message that cannot be read as an event (bad framing, JSON or fields)."""

    code = "invalid_event"


class AuthenticationFailed(WhisperdError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"

    def __init__(self, *, key_given: bool) -> None:
        if key_given:
            message = "Incorrect API key provided."
        else:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": "Bearer"}


class Forbidden(WhisperdError):
    """The client's address is outside the networks the operator allows."""

    status = 403
    type = "invalid_request_error"
    code = "client_not_allowed"


class NotFound(WhisperdError):
    status = 404
    type = "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, name: str, reason: str | None = None) -> None:
        message = f"The model '{name}' does not exist or is not available on this server."
        if reason:
            message += f" {reason}"
        super().__init__(message, param="model")


class JobNotFound(NotFound):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job found with id '{job_id}'.", param="job_id")


class MethodNotAllowed(WhisperdError):
    status = 405
    type = "invalid_request_error"


class UploadTimeout(WhisperdError):
    status = 408
    type = "invalid_request_error"
    code = "upload_timeout"


class ModelInUse(WhisperdError):
    status = 409
    type = "invalid_request_error"
    code = "model_in_use"
    retryable = True


class JobNotFinished(WhisperdError):
    status = 409
    type = "invalid_request_error"
    code = "job_not_finished"
    retryable = False


class PayloadTooLarge(WhisperdError):
    status = 413
    type = "invalid_request_error"
    code = "file_too_large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"Maximum content size limit ({limit_bytes} bytes) exceeded.", param="file")


class QueueFull(WhisperdError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"
    retryable = True


class QuotaExceeded(QueueFull):
    """Too many jobs waiting, or too much of their audio stored: more would fill the disk or the day."""

    code = "quota_exceeded"


class NotReady(WhisperdError):
    status = 503
    type = "server_error"
    code = "model_loading"
    retryable = True


class ModelCapacity(NotReady):
    code = "model_capacity"


class InternalError(WhisperdError):
    status = 500
    type = "server_error"
    retryable = False

    def __init__(self, message: str = "The server had an error while processing your request.") -> None:
        super().__init__(message)


def _restore(
    cls: type[WhisperdError], message: str, param: str | None, retry_after: int | None
) -> WhisperdError:
    """An unpickled error: its class's fields without running its constructor."""
    error = cls.__new__(cls)
    WhisperdError.__init__(error, message, param=param, retry_after=retry_after)
    return error
