"""POST /v1/chat/completions and POST /v1/completions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from lmscape.backends.base import Request as GenRequest
from lmscape.serve import accounting
from lmscape.serve.errors import GatewayError
from lmscape.serve.gateway import Gateway
from lmscape.serve.generation import Generate
from lmscape.serve.schemas import (
    ERROR_RESPONSES,
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
)

router = APIRouter()

DEFAULT_TEMPERATURE = 1.0  # OpenAI's default when a request sets none


def _upstream_body(req: ChatCompletionRequest | CompletionRequest, max_tokens: int | None) -> dict:
    body = req.model_dump(exclude_unset=True, exclude_none=True)
    if max_tokens is not None and "max_tokens" not in body and "max_completion_tokens" not in body:
        body["max_tokens"] = max_tokens
    return body


def _sampling(req: ChatCompletionRequest | CompletionRequest, max_tokens: int) -> dict:
    return {
        "max_tokens": max_tokens,
        "temperature": DEFAULT_TEMPERATURE if req.temperature is None else req.temperature,
        "top_p": 1.0 if req.top_p is None else req.top_p,
        "stop": req.stop_tuple(),
        "seed": req.seed,
    }


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERROR_RESPONSES,
             summary="Create a chat completion (streams Server-Sent Events when stream=true)")
async def chat_completions(req: ChatCompletionRequest, request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    messages = [{"role": m.role, "content": m.text()} for m in req.messages]
    limit = req.limit()
    if req.top_logprobs is not None and not req.logprobs:
        raise GatewayError(400, "top_logprobs needs logprobs=true", param="top_logprobs",
                           code="invalid_value")
    ticket = await gw.admit(
        endpoint="chat", kind="chat", model=req.model,
        key=await gw.caller(request),
        prompt_bound=accounting.prompt_token_bound((m["content"] for m in messages), len(messages)),
        completion_bound=limit if limit is not None else gw.limits.default_max_tokens,
        stream=bool(req.stream),
    )
    forced = gw.limits.default_max_tokens if (limit is None and ticket.budgeted) else None
    job = Generate(
        path="/chat/completions", chat=True, body=_upstream_body(req, forced),
        requests=[GenRequest(messages=messages,
                             **_sampling(req, limit if limit is not None else gw.limits.default_max_tokens))],
        stream=bool(req.stream),
        include_usage=bool(req.stream_options and req.stream_options.include_usage),
        logprobs=bool(req.logprobs), top_logprobs=req.top_logprobs or 0,
    )
    return await gw.execute(ticket, job)


@router.post("/v1/completions", response_model=Completion, responses=ERROR_RESPONSES,
             summary="Create a text completion (a list of prompts is one batch)")
async def completions(req: CompletionRequest, request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    prompts = req.prompts()
    if req.stream and len(prompts) > 1:
        raise GatewayError(400, "streaming supports one prompt per request", param="prompt",
                           code="invalid_value")
    limit = req.limit()
    texts = [p for p in prompts if isinstance(p, str)]
    ticket = await gw.admit(
        endpoint="completions", kind="completions", model=req.model,
        key=await gw.caller(request),
        prompt_bound=accounting.prompt_token_bound(texts, 0)
        + sum(len(p) for p in prompts if not isinstance(p, str)),
        completion_bound=(limit or 0) * len(prompts),
        stream=bool(req.stream),
    )
    sampling = _sampling(req, limit or 0)
    job = Generate(
        path="/completions", chat=False, body=_upstream_body(req, None),
        requests=[GenRequest(prompt=p, **sampling) if isinstance(p, str)
                  else GenRequest(token_ids=tuple(p), **sampling) for p in prompts],
        stream=bool(req.stream),
        include_usage=bool(req.stream_options and req.stream_options.include_usage),
        logprobs=req.logprobs is not None, top_logprobs=req.logprobs or 0,
        echo=bool(req.echo),
    )
    return await gw.execute(ticket, job)
