"""``GET /v1/models`` and ``GET /v1/models/{id}`` in OpenAI's list/object shapes, aliases included."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from whisperd.engine.manager import ListedModel
from whisperd.errors import ModelNotFound
from whisperd.http.protocol import ErrorResponse, ModelList, ModelObject
from whisperd.http.state import app_state

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["models"])


def _object(model: ListedModel) -> ModelObject:
    return ModelObject(id=model.id, created=model.created)


@router.get("/models", response_model=ModelList, summary="List the models clients may name")
async def list_models(request: Request) -> ModelList:
    listing = await asyncio.to_thread(app_state(request).registry.listing)
    return ModelList(data=[_object(m) for m in listing])


@router.get(
    "/models/{model_id:path}",
    response_model=ModelObject,
    responses={404: {"model": ErrorResponse, "description": "Unknown model."}},
    summary="Describe one model",
)
async def retrieve_model(request: Request, model_id: str) -> ModelObject:
    listing = await asyncio.to_thread(app_state(request).registry.listing)
    for model in listing:
        if model.id == model_id:
            return _object(model)
    raise ModelNotFound(model_id)
