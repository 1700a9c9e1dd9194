"""The error tree, and the one function that renders an error as OpenAI does.

    WhisperdError (status, type, code, param)
    ├── InvalidRequest ................ 400 invalid_request_error
    │   ├── MissingFile, EmptyFile
    │   ├── InvalidAudio .............. undecodable bytes ("Invalid file format ...")
    │   ├── AudioTooLong, DecodeTimeout
    │   └── InvalidParameter .......... a form field with a bad value (param names it)
    ├── AuthenticationFailed .......... 401 invalid_request_error / invalid_api_key
    ├── ModelNotFound ................. 404 invalid_request_error / model_not_found
    ├── PayloadTooLarge ............... 413 invalid_request_error
    ├── QueueFull ..................... 429 requests / rate_limit_exceeded, Retry-After
    ├── NotReady ...................... 503 server_error, Retry-After (model still loading)
    └── InternalError ................. 500 server_error (never carries a stack trace)

Deterministic failures carry ``x-should-retry: false`` so that the official SDKs do not send the same
doomed request three times; transient ones carry ``Retry-After``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.responses import JSONResponse

__all__ = [
    "AudioTooLong",
    "AuthenticationFailed",
    "DecodeTimeout",
    "EmptyFile",
    "InternalError",
    "InvalidAudio",
    "InvalidParameter",
    "InvalidRequest",
    "MissingFile",
    "ModelNotFound",
    "NotReady",
    "PayloadTooLarge",
    "QueueFull",
    "WhisperdError",
    "error_body",
    "error_response",
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


class AuthenticationFailed(WhisperdError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class ModelNotFound(WhisperdError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, name: str, reason: str | None = None) -> None:
        message = f"The model '{name}' does not exist or is not available on this server."
        if reason:
            message += f" {reason}"
        super().__init__(message, param="model")


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


class NotReady(WhisperdError):
    status = 503
    type = "server_error"
    code = "model_loading"
    retryable = True


class InternalError(WhisperdError):
    status = 500
    type = "server_error"
    retryable = False

    def __init__(self, message: str = "The server had an error while processing your request.") -> None:
        super().__init__(message)


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error object: the single shape every failure of this server takes."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(error: WhisperdError) -> JSONResponse:
    """Render a :class:`WhisperdError` with its status and retry headers."""
    return JSONResponse(
        error_body(error.message, error.type, error.param, error.code),
        status_code=error.status,
        headers=error.headers(),
    )
