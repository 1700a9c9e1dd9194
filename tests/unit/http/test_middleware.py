"""The middlewares see WebSocket scopes too: a socket under ``/v1`` needs a key, and is logged and counted.

In process, with Starlette's test client and a throwaway echo socket added to the real app (the realtime
endpoint will be the first real one): what matters is the middleware stack in front of any route.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from whisperd.config import Settings
from whisperd.http.app import create_app

KEY = "socket-key"


def _client(root: Path, reached: list[str]) -> TestClient:
    app = create_app(Settings(api_keys=[KEY], log_dir=root / "logs", temp_dir=root / "tmp"))

    async def echo(websocket: WebSocket) -> None:
        reached.append(websocket.url.path)
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    app.add_api_websocket_route("/v1/echo", echo)
    return TestClient(app)


def test_a_socket_without_a_key_is_refused_before_it_opens(tmp_path: Path) -> None:
    reached: list[str] = []
    client = _client(tmp_path, reached)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/v1/echo", headers=headers),
        ):
            pass
        assert isinstance(refused.value, WebSocketDenialResponse)
        assert refused.value.status_code == 401
        assert refused.value.json()["error"]["code"] == "invalid_api_key"
    assert reached == []
    with client.websocket_connect("/v1/echo", headers={"Authorization": f"Bearer {KEY}"}) as socket:
        socket.send_text("hello")
        assert socket.receive_text() == "hello"
    assert reached == ["/v1/echo"]


def test_a_socket_session_is_logged_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = _client(tmp_path, [])
    auth = {"Authorization": f"Bearer {KEY}"}
    with caplog.at_level("INFO", logger="whisperd"):
        with client.websocket_connect("/v1/echo", headers={**auth, "X-Request-ID": "sock-1"}) as socket:
            socket.send_text("hello")
            socket.receive_text()
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/v1/echo"):
            pass
    lines = [r.getMessage() for r in caplog.records if "path=/v1/echo" in r.getMessage()]
    assert any("request_id=sock-1 " in line and "status=101" in line for line in lines), lines
    assert any("status=401" in line for line in lines), lines
    metrics = client.get("/metrics", headers=auth).text
    assert 'whisperd_requests_total{endpoint="/v1/echo",format="",status="101"} 1.0' in metrics
    assert 'whisperd_requests_total{endpoint="/v1/echo",format="",status="401"} 1.0' in metrics
