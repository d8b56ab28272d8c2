"""POST /v1/embeddings."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from lmscape.serve import accounting, shapes
from lmscape.serve.config import Kind, Route
from lmscape.serve.errors import GatewayError
from lmscape.serve.gateway import Gateway, Served, Ticket
from lmscape.serve.schemas import ERROR_RESPONSES, EmbeddingList, EmbeddingRequest

router = APIRouter()


def _encode(vector, fmt: str, dimensions: int | None):
    import numpy as np

    v = np.asarray(vector, dtype=np.float32)
    if dimensions is not None and dimensions < v.shape[0]:
        v = v[:dimensions]
        norm = float(np.linalg.norm(v))
        if norm > 0:
            v = v / norm
    if fmt == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
    return v.tolist()


SPECIAL_TOKENS = 2  # an encoder wraps each input in two ([CLS] ... [SEP], <s> ... </s>)


def over_limit(backend, route: Route, texts: list[str], *, allow: bool) -> list[int]:
    """Indexes of the inputs longer than the model's input limit. Unless ``allow``
    (the request's ``truncate: true``), such an input is a 400, as OpenAI answers,
    rather than an embedding of its first tokens only."""
    limit = backend.context_length
    if not limit:
        return []
    room = limit - SPECIAL_TOKENS
    # a token covers at least one UTF-8 byte: only longer texts need counting
    over = [i for i, t in enumerate(texts)
            if len(t.encode("utf-8")) > room and backend.count_tokens(t) > room]
    if over and not allow:
        i = over[0]
        raise GatewayError(
            400, f"input[{i}] is {backend.count_tokens(texts[i])} tokens, more than model "
            f"{route.name!r} accepts ({room} per input); shorten it, split it, or send "
            '"truncate": true to embed its first tokens only.',
            param="input",
            code="context_length_exceeded")
    return over


@dataclass
class Embed:
    """The embeddings operation (see :meth:`Gateway.execute`)."""

    request: EmbeddingRequest
    texts: list[str]
    kind: Kind = "embeddings"

    async def via_upstream(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        body = self.request.model_dump(exclude_unset=True, exclude_none=True,
                                       exclude={"truncate"})  # not an OpenAI parameter
        raw, parsed = await gw.upstream.call(route, "/embeddings", body)
        usage = parsed.get("usage") or {}
        return Served(shapes.json_response(raw),
                      prompt_tokens=int(usage.get("prompt_tokens") or 0))

    async def via_backend(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        assert gw.pool is not None
        texts, req = self.texts, self.request
        truncated: list[int] = []

        def run(backend):
            truncated.extend(over_limit(backend, route, texts, allow=req.truncate))
            return backend.embed(texts)

        result = await gw.pool.call(route, run)
        prompt_tokens = result.usage.prompt_tokens or sum(max(1, len(t) // 4) for t in texts)
        data = [{"object": "embedding", "index": j,
                 "embedding": _encode(v, req.encoding_format, req.dimensions)}
                for j, v in enumerate(result.vectors)]
        if req.truncate:  # say which inputs were cut to the model's limit
            for item in data:
                item["truncated"] = item["index"] in truncated
        return Served(shapes.json_response({
            "object": "list", "data": data, "model": req.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }), prompt_tokens=prompt_tokens)


@router.post("/v1/embeddings", response_model=EmbeddingList, responses=ERROR_RESPONSES,
             summary="Create embeddings for one text or a list of texts")
async def embeddings(req: EmbeddingRequest, request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    texts = req.texts()
    ticket = await gw.admit(
        endpoint="embeddings", kind="embeddings", model=req.model,
        key=await gw.caller(request),
        prompt_bound=accounting.prompt_token_bound(texts, 0), completion_bound=0,
    )
    return await gw.execute(ticket, Embed(req, texts))
