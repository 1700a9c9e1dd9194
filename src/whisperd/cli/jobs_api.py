"""The job endpoints of a server, from the CLI: submit, read, wait for, fetch, cancel and list jobs.

Every submit carries an ``Idempotency-Key`` (the caller's, or a fresh one), so that a submit retried
while the server restarts, or sent again by a folder run that was interrupted, never makes a second job.
Waiting is polling (once a second, and through a server restart): simpler than an event stream to keep
alive across reconnections, and a job's progress moves in steps of seconds anyway.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from whisperd.cli.client import CountingReader, ServerError, WhisperdClient

__all__ = ["FINISHED", "JobFailed", "JobsApi", "metadata_field"]

FINISHED = frozenset({"succeeded", "failed", "cancelled"})
_BASE = "/v1/audio/jobs"


class JobFailed(Exception):
    """A job ended without a result: its status and its error's message."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        error = job.get("error") or {}
        self.job = dict(job)
        self.status = str(job.get("status"))
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(message or f"the job was {self.status}")


class JobsApi:
    """``/v1/audio/jobs`` through one :class:`WhisperdClient`."""

    def __init__(self, client: WhisperdClient) -> None:
        self.client = client

    def submit(
        self,
        path: Path,
        fields: Mapping[str, str],
        *,
        idempotency_key: str | None = None,
        on_upload: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """The job for ``path``, submitted with ``fields`` (model, task, response_format, ...)."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        size = path.stat().st_size
        deadline = time.monotonic() + self.client.retry_seconds
        while True:
            try:
                with path.open("rb") as handle:
                    upload: Any = handle
                    if on_upload is not None:
                        upload = CountingReader(handle, lambda sent: on_upload(sent, size))
                    response = self.client.send(
                        "POST",
                        _BASE,
                        retry=False,
                        files={"file": (path.name, upload)},
                        data=dict(fields),
                        headers=headers,
                    )
                job: dict[str, Any] = response.json()
                return job
            except ServerError as exc:
                if ((exc.fatal and exc.status is None) or exc.status in (429, 502, 503, 504)) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(2.0)
                    continue
                raise

    def get(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.client.send("GET", f"{_BASE}/{job_id}").json()
        return job

    def result(self, job_id: str, response_format: str | None = None) -> bytes:
        params = {"response_format": response_format} if response_format else {}
        return self.client.send("GET", f"{_BASE}/{job_id}/result", params=params).content

    def cancel(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.client.send("DELETE", f"{_BASE}/{job_id}").json()
        return job

    def page(self, *, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        page: dict[str, Any] = self.client.send("GET", _BASE, params=params).json()
        return page

    def wait(
        self, job_id: str, on_update: Callable[[dict[str, Any]], None] | None = None, *, every: float = 1.0
    ) -> dict[str, Any]:
        """The job once it has ended (succeeded: returned; failed or cancelled: JobFailed)."""
        while True:
            job = self.get(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in FINISHED:
                if job["status"] != "succeeded":
                    raise JobFailed(job)
                return job
            time.sleep(every)


def metadata_field(pairs: list[str]) -> str | None:
    """``KEY=VALUE`` arguments as the ``metadata`` form field (a JSON object), or None when there are none."""
    if not pairs:
        return None
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"metadata must be KEY=VALUE, not {pair!r}")
        data[key] = value
    return json.dumps(data)
