"""``GET /metrics``: Prometheus text exposition of the app's own registry (see :mod:`whisperd.observability.metrics`).

Behind the API keys when they are on (a scrape config can send ``Authorization: Bearer KEY``), since
request counts and audio volume describe how the server is used.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from whisperd.observability.metrics import CONTENT_TYPE, Metrics

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
