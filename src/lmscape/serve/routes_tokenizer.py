"""vLLM's tokenizer endpoints at the server root: GET /tokenizer_info, POST /tokenize,
POST /detokenize.

lm-evaluation-harness's ``tokenizer_backend=remote`` calls exactly these (at the
``base_url`` less ``/v1/completions``), so a harness scoring a local model needs no
tokenizer of its own and no model hub. Shapes, as vLLM's:

| endpoint              | request                                          | response                                  |
|-----------------------|--------------------------------------------------|-------------------------------------------|
| GET /tokenizer_info   | ``?model=`` (optional)                           | ``bos_token``, ``eos_token``, ``chat_template``, ``model_max_length``... |
| POST /tokenize        | ``prompt``, ``add_special_tokens`` (default true: the BOS the model expects), ``return_token_strs``, ``model`` | ``{count, max_model_len, tokens, token_strs}`` |
| POST /detokenize      | ``tokens``, ``model``                            | ``{prompt}``                              |

Which model: the request's ``model``; else the config's ``tokenizer_model`` (``lmscape
serve --tokenizer-model NAME``); else the one served model that has a tokenizer, if
there is exactly one. Otherwise a 400 says how to choose. Keys are checked as for any
model: a key sees only the models it may use.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from lmscape.serve import shapes
from lmscape.serve.config import Route
from lmscape.serve.errors import GatewayError, not_found_model
from lmscape.serve.gateway import Gateway
from lmscape.serve.schemas import (
    ERROR_RESPONSES,
    DetokenizeRequest,
    DetokenizeResponse,
    TokenizeRequest,
    TokenizeResponse,
)

router = APIRouter()


async def _route(request: Request, model: str | None) -> tuple[Gateway, Route]:
    gw: Gateway = request.app.state.gateway
    key = await gw.caller(request)
    allowed = [r for r in gw.routes.values() if key is None or key.allows(r.name)]
    name = model or gw.config.tokenizer_model
    if name is None:
        capable = [r.name for r in allowed if r.resolved.can("has_tokenizer")]
        if len(capable) != 1:
            raise GatewayError(
                400, "which model's tokenizer? Send \"model\" (a query parameter for GET "
                "/tokenizer_info), or start the gateway with `lmscape serve --tokenizer-model "
                f"NAME`; models with a tokenizer: {', '.join(capable) or 'none'}",
                param="model", code="missing_required_parameter")
        name = capable[0]
    route = gw.routes.get(name)
    if route is None or (key is not None and not key.allows(name)):
        raise not_found_model(name, [r.name for r in allowed])
    if not route.resolved.can("has_tokenizer"):
        raise GatewayError(400, f"model {name!r} has no tokenizer this gateway can run "
                           "(local llama.cpp models have one)", param="model",
                           code="unsupported_operation")
    return gw, route


@router.get("/tokenizer_info", summary="The tokenizer's special tokens and chat template")
async def tokenizer_info(request: Request, model: str | None = None) -> Response:
    gw, route = await _route(request, model)
    assert gw.pool is not None
    info = await gw.pool.call(route, lambda backend: backend.tokenizer_info())
    return shapes.json_response(info)


@router.post("/tokenize", response_model=TokenizeResponse, responses=ERROR_RESPONSES,
             summary="Token ids of a prompt (special-token text is parsed)")
async def tokenize(req: TokenizeRequest, request: Request) -> Response:
    gw, route = await _route(request, req.model)
    assert gw.pool is not None

    def run(backend) -> dict:
        tokens = backend.tokenize(req.prompt, add_special=req.add_special_tokens)
        out = {"count": len(tokens), "max_model_len": backend.context_length, "tokens": tokens}
        if req.return_token_strs:
            out["token_strs"] = [backend.token_text(t).decode("utf-8", errors="replace")
                                 for t in tokens]
        return out

    return shapes.json_response(await gw.pool.call(route, run))


@router.post("/detokenize", response_model=DetokenizeResponse, responses=ERROR_RESPONSES,
             summary="The text of token ids")
async def detokenize(req: DetokenizeRequest, request: Request) -> Response:
    gw, route = await _route(request, req.model)
    assert gw.pool is not None
    text = await gw.pool.call(route, lambda backend: backend.detokenize(req.tokens))
    return shapes.json_response({"prompt": text})
