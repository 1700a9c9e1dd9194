"""``GET /metrics``: Prometheus text exposition of the runtime's registry (of every replica's, on a cluster).

Behind the API keys when they are on (a scrape config can send ``Authorization: Bearer KEY``), since
request counts and audio volume describe how the server is used.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from whisperd.http.routes import runtime_of
from whisperd.observability.metrics import CONTENT_TYPE

__all__ = ["metrics", "router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(await runtime_of(request).exposition(), media_type=CONTENT_TYPE)
