"""``/v1/models``: OpenAI's list and object shapes (aliases included), and the operator's load and unload.

Each model object also says whether it is loaded, where its weights come from and their size; the
official SDKs ignore fields they do not know. ``POST /v1/models/{id}/load`` and ``.../unload`` let an
operator manage memory without a restart (behind the API keys when they are on); an unload of a model
that requests are using is refused with 409 rather than pulled from under them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from whisperd.errors import ModelNotFound
from whisperd.http.protocol import ErrorResponse, ModelList, ModelObject
from whisperd.http.routes import runtime_of
from whisperd.runtime import Runtime

__all__ = ["list_models", "load_model", "retrieve_model", "router", "unload_model"]

router = APIRouter(prefix="/v1", tags=["models"])

_CREATED = int(time.time())


def _listing(runtime: Runtime) -> list[ModelObject]:
    """Aliases first, then every model present, then any resident model not in the catalogue."""
    resident = {s.name: s for s in runtime.resident()}
    present = {e.name: e for e in runtime.catalog.entries()}
    objects = [
        ModelObject(id=alias, created=_CREATED, alias_of=target, loaded=target in resident)
        for alias, target in runtime.models.aliases().items()
    ]
    for name, entry in present.items():
        objects.append(
            ModelObject(
                id=name, created=_CREATED, loaded=name in resident, source=entry.origin,
                size_bytes=entry.size_bytes or None,
            )
        )  # fmt: skip
    for name, state in resident.items():
        if name not in present:
            objects.append(
                ModelObject(
                    id=name, created=_CREATED, loaded=True, source=state.origin, size_bytes=state.size_bytes
                )
            )
    return objects


@router.get("/models", response_model=ModelList, summary="List the models clients may name")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=await asyncio.to_thread(_listing, runtime_of(request)))


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "Unknown model."}}


@router.get(
    "/models/{model_id:path}", response_model=ModelObject, responses=_NOT_FOUND, summary="Describe one model"
)
async def retrieve_model(request: Request, model_id: str) -> ModelObject:
    for model in await asyncio.to_thread(_listing, runtime_of(request)):
        if model.id == model_id:
            return model
    raise ModelNotFound(model_id)


@router.post(
    "/models/{model_id:path}/load",
    response_model=ModelObject,
    responses={**_NOT_FOUND, 503: {"model": ErrorResponse, "description": "No room within the limits."}},
    summary="Load a model now (operator)",
)
async def load_model(request: Request, model_id: str) -> ModelObject:
    state = await runtime_of(request).load_model(model_id)
    return ModelObject(
        id=state.name, created=_CREATED, loaded=True, source=state.origin, size_bytes=state.size_bytes
    )


@router.post(
    "/models/{model_id:path}/unload",
    response_model=ModelObject,
    responses={**_NOT_FOUND, 409: {"model": ErrorResponse, "description": "In use by requests."}},
    summary="Unload a model now (operator)",
)
async def unload_model(request: Request, model_id: str) -> ModelObject:
    name = await runtime_of(request).unload_model(model_id)
    return ModelObject(id=name, created=_CREATED, loaded=False)
