"""GET /v1/models, GET /v1/models/{model}, GET /health."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from lmscape.serve import shapes
from lmscape.serve.errors import GatewayError, not_found_model
from lmscape.serve.gateway import Gateway
from lmscape.serve.schemas import ERROR_RESPONSES, ModelCard, ModelList

router = APIRouter()
_STARTED = int(time.time())


def _card(name: str, owned_by: str) -> dict:
    return {"id": name, "object": "model", "created": _STARTED, "owned_by": owned_by}


@router.get("/v1/models", response_model=ModelList, responses=ERROR_RESPONSES,
            summary="List the models this gateway serves")
async def list_models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    key = await gw.caller(request)
    data = [_card(name, gw.routes[name].owned_by if name in gw.routes else "lmscape")
            for name in gw.visible(key)]
    return shapes.json_response({"object": "list", "data": data})


@router.get("/v1/models/{model:path}", response_model=ModelCard, responses=ERROR_RESPONSES,
            summary="Describe one model")
async def get_model(model: str, request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    key = await gw.caller(request)
    route = gw.routes.get(model) or gw.policies.route(model)
    if route is None or (key is not None and not key.allows(model)):
        raise not_found_model(model, gw.visible(key))
    return shapes.json_response(_card(route.name, route.owned_by))


@router.get("/health", summary="Liveness; with a key, also the models it may use and which are loaded")
async def health(request: Request) -> Response:
    """Liveness for anyone; the details only for a caller who may use the gateway (a
    valid key, or anyone under open access), limited to the models that key may use."""
    gw: Gateway = request.app.state.gateway
    try:
        key = await gw.authenticate(request.headers.get("authorization"))
    except GatewayError:
        return shapes.json_response({"status": "ok"})
    visible = gw.visible(key)
    allowed = set(visible)
    loaded = gw.pool.loaded() if gw.pool else []
    return shapes.json_response({
        "status": "ok",
        "models": len(visible),
        "loaded": [name for name in loaded if name in allowed],
        "open_access": key is None,
    })
