"""``GET /health``: the reference design's ``{"status": "ok", "model": ...}``, plus every resident model.

503 while the default model is loading (or failed to), so that a load balancer or ``systemctl`` check
waits for a server that can actually transcribe. It reads only in-memory state: cheap to poll.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from whisperd.http.protocol import HealthResponse, ResidentModel
from whisperd.http.routes import runtime_of

__all__ = ["health", "router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The model is loading or failed to load."}},
    summary="Liveness and readiness",
)
async def health(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    placement = runtime.placement
    resident = [
        ResidentModel(id=s.name, source=s.origin, size_bytes=s.size_bytes, in_use=s.leases, pinned=s.pinned)
        for s in runtime.resident()
    ]
    if runtime.ready:
        body = HealthResponse(
            status="ok",
            model=f"whisper-{runtime.models.target(None)}",
            device=placement.device,
            compute_type=placement.compute_type,
            uptime_seconds=round(runtime.uptime, 3),
            models=resident,
        )
        return JSONResponse(body.model_dump())
    body = HealthResponse(
        status="error" if runtime.load_error else "loading",
        model=f"whisper-{runtime.settings.model}",
        uptime_seconds=round(runtime.uptime, 3),
        models=resident,
    )
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "2"})
