"""``GET /health``: the reference design's ``{"status": "ok", "model": ...}``, plus device and uptime.

503 while the default model is loading (or failed to), so that a load balancer or ``systemctl`` check
waits for a server that can actually transcribe. It reads only in-memory state: cheap to poll.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from whisperd.http.protocol import HealthResponse
from whisperd.http.state import app_state

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The model is loading or failed to load."}},
    summary="Liveness and readiness",
)
async def health(request: Request) -> JSONResponse:
    state = app_state(request)
    engine = state.registry.default
    if state.ready and engine is not None:
        body = HealthResponse(
            status="ok",
            model=f"whisper-{engine.name}",
            device=engine.placement.device,
            compute_type=engine.placement.compute_type,
            uptime_seconds=round(state.uptime, 3),
        )
        return JSONResponse(body.model_dump())
    body = HealthResponse(
        status="error" if state.load_error else "loading",
        model=f"whisper-{state.settings.model}",
        uptime_seconds=round(state.uptime, 3),
    )
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "2"})
