"""The chat / text completion operation, streaming or not, on any target.

A :class:`Generate` carries what the routes parsed: the upstream JSON body (for
OpenAI-compatible upstreams) and the lmscape requests (for every other backend).
:meth:`Gateway.execute <lmscape.serve.gateway.Gateway.execute>` runs it on each target
in turn. A stream's first event is produced before its response is returned, so that a
failing model can still fall back to the next one before anything reached the client;
the stream then bills itself when it ends.

On a backend, generations run as ``generation=True`` pool calls, so concurrent requests
for one local model share its decode batch (:mod:`lmscape.serve.pool`). ``logprobs``
and ``echo`` (local models with a tokenizer and loglikelihood), shaped by
:mod:`lmscape.serve.logprobs` and refused with ``stream=true``: the sampled tokens'
logprobs are those the backend recorded while sampling (``Request.logprobs``), read
from the logits each token was drawn from, so at temperature 0 every token is the first
of its alternatives. A backend that records none, and the prompt's tokens with
``echo``, are scored after generation by ``Backend.token_logprobs``, the path
``loglikelihood`` uses (a separate evaluation, which on some CPUs rounds differently
from the decode steps).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import StreamingResponse

from lmscape.backends.base import Backend, Request, Result, StreamChunk
from lmscape.errors import ContextLengthError
from lmscape.serve import logprobs as lp
from lmscape.serve import shapes
from lmscape.serve.config import Kind, Route
from lmscape.serve.errors import GatewayError
from lmscape.serve.gateway import Gateway, Served, Ticket, as_gateway_error

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def clamp_to_context(backend: Backend, route: Route, req: Request, job: Generate) -> Request:
    """Reject prompts longer than the context window; clamp max_tokens to what is left."""
    n_ctx = backend.context_length or route.context_window
    if req.token_ids is not None:
        n_prompt = len(req.token_ids)
    else:
        texts = ([m.get("content") or "" for m in req.messages] if req.messages is not None
                 else [req.prompt or ""])
        n_prompt = sum(backend.count_tokens(t) for t in texts if t)
    job.counted_prompt = n_prompt
    if n_ctx is None:
        return req
    if n_prompt >= n_ctx:
        raise ContextLengthError(n_prompt, n_ctx, model=route.name)
    room = n_ctx - n_prompt
    return replace(req, max_tokens=min(req.max_tokens, room)) if req.max_tokens > room else req


@dataclass
class Generate:
    """A chat (``chat=True``) or text completion request, as the routes parsed it."""

    path: str  # upstream path: /chat/completions or /completions
    chat: bool
    body: dict[str, Any]  # the client's JSON (the proxy sets the upstream model name)
    requests: list[Request]  # the same, as lmscape requests
    stream: bool = False
    include_usage: bool = False
    counted_prompt: int = 0  # set by clamp_to_context, for streams' usage
    logprobs: bool = False  # report each sampled token's logprob
    top_logprobs: int = 0  # ... and this many alternatives per token
    echo: bool = False  # completions: the prompt (and its tokens' logprobs) first

    @property
    def kind(self) -> Kind:
        return "chat" if self.chat else "completions"

    @property
    def scores_prompt(self) -> bool:
        """Completions with ``echo``: the prompt's tokens are scored too."""
        return self.echo and not self.chat

    def _check_local(self) -> None:
        if self.stream and (self.logprobs or self.echo):
            raise GatewayError(400, "logprobs and echo are served without streaming for this "
                               "model; send stream=false", param="stream", code="invalid_value")

    def _body(self, backend: Backend, model: str, results: list[Result],
              fingerprint: str) -> dict[str, Any]:
        """The response JSON, with logprobs scored by ``backend`` where asked for."""
        if self.chat:
            body = shapes.chat_completion(model, results[0], fingerprint)
        else:
            body = shapes.text_completion(model, results, fingerprint)
        if not (self.logprobs or self.echo):
            return body
        pieces = lp.Pieces(backend)
        if not self.logprobs:
            scored = [[] for _ in results]
        elif not self.scores_prompt and all(r.token_logprobs is not None for r in results):
            scored = [r.token_logprobs for r in results]  # recorded while sampling
        else:
            scored = backend.token_logprobs(lp.pairs_to_score(results, self.scores_prompt),
                                            top_n=self.top_logprobs)
        for choice, request, result, tokens in zip(body["choices"], self.requests, results,
                                                   scored, strict=True):
            if self.chat:
                choice["logprobs"] = lp.chat_content(pieces, result, tokens, self.top_logprobs)
                continue
            text, legacy = lp.completion_choice(
                pieces, lp.Scored(result=result, prompt=request.prompt, scored=tokens,
                                  echo=self.echo), self.top_logprobs)
            choice["text"] = text
            choice["logprobs"] = legacy if self.logprobs else None
        return body

    # -- OpenAI-compatible upstreams ------------------------------------------------------
    async def via_upstream(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        if self.stream:
            events = gw.upstream.stream(route, self.path, self.body)
            return await self._open_stream(gw, ticket, route, events, _sse_upstream)
        raw, parsed = await gw.upstream.call(route, self.path, self.body)
        usage = parsed.get("usage") or {}
        return Served(shapes.json_response(raw),
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0))

    # -- lmscape backends -----------------------------------------------------------------
    async def via_backend(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        assert gw.pool is not None
        self._check_local()
        if self.stream:
            request = self.requests[0]

            def open_stream(backend: Backend):
                # fitting needs the loaded backend's tokenizer: done in the stream's thread
                return backend.stream(clamp_to_context(backend, route, request, self))

            events = gw.pool.stream(route, open_stream)
            return await self._open_stream(gw, ticket, route, events, _sse_backend)

        record = self.top_logprobs if self.logprobs and not self.scores_prompt else None

        def run(backend: Backend) -> tuple[list[Result], dict[str, Any]]:
            results = backend.generate([replace(clamp_to_context(backend, route, r, self),
                                                logprobs=record) for r in self.requests])
            fp = shapes.fingerprint(route.backend, route.resolved.model)
            return results, self._body(backend, ticket.model, results, fp)

        results, body = await gw.pool.call(route, run, generation=True)
        total = shapes.sum_usage(results)
        return Served(shapes.json_response(body), prompt_tokens=total.prompt_tokens,
                      completion_tokens=total.completion_tokens)

    # -- streams --------------------------------------------------------------------------
    async def _open_stream(self, gw: Gateway, ticket: Ticket, route: Route,
                           events: AsyncIterator[Any], body) -> Served:
        """Produce the first event (so a failure can still fall back), then hand the rest
        to a response that bills the request when it ends."""
        try:
            first = await events.__anext__()
        except StopAsyncIteration:
            first = None
        except BaseException:
            with contextlib.suppress(Exception):
                await events.aclose()
            raise

        async def cleanup() -> None:
            if not ticket.finished:  # the client left before the body was ever sent
                gw.finish(ticket, served_by=route, status=499, error="client_disconnected")
            with contextlib.suppress(Exception):
                await events.aclose()

        response = GatewayStream(body(gw, ticket, self, route, first, events), cleanup=cleanup,
                                 media_type="text/event-stream", headers=SSE_HEADERS)
        return Served(response, prompt_tokens=None)


class GatewayStream(StreamingResponse):
    """A streaming response that always settles its request: when the client goes away
    before the body starts, ``cleanup`` records the usage row and stops the model."""

    def __init__(self, content: AsyncIterator[bytes], *, cleanup, **kw: Any) -> None:
        super().__init__(content, **kw)
        self._cleanup = cleanup

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(Exception):
                await self.body_iterator.aclose()  # type: ignore[union-attr]
            await self._cleanup()


async def _chain(first: Any, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    if first is not None:
        yield first
        async for item in events:
            yield item


async def _sse_backend(gw: Gateway, ticket: Ticket, job: Generate, route: Route, first: Any,
                       events: AsyncIterator[StreamChunk]) -> AsyncIterator[bytes]:
    maker = shapes.ChunkMaker(ticket.model, chat=job.chat, include_usage=job.include_usage,
                              system_fingerprint=shapes.fingerprint(route.backend,
                                                                    route.resolved.model))
    n_chunks, prompt, completion = 0, 0, 0
    status, error = 200, None
    try:
        if job.chat:
            yield shapes.sse(maker.role())
        async for chunk in _chain(first, events):
            if chunk.text:
                n_chunks += 1
                yield shapes.sse(maker.text(chunk.text))
            if chunk.done:
                if chunk.usage is not None:
                    prompt, completion = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
                yield shapes.sse(maker.finish(chunk.finish_reason or "stop"))
        if job.include_usage:
            yield shapes.sse(maker.usage(prompt, completion))
        await gw.finish_settled(ticket, served_by=route, prompt_tokens=prompt,
                                completion_tokens=completion)  # before the client's [DONE]
        yield shapes.SSE_DONE
    except (asyncio.CancelledError, GeneratorExit):
        status, error = 499, "client_disconnected"
        raise
    except Exception as exc:  # noqa: BLE001 - reported in-stream, as OpenAI does
        err = as_gateway_error(exc)
        status, error = err.status, err.code or err.type
        yield shapes.sse(err.body())
    finally:
        if status != 200 and completion == 0:  # stopped early: charge what was produced
            prompt, completion = job.counted_prompt, n_chunks
        gw.finish(ticket, served_by=route, prompt_tokens=prompt, completion_tokens=completion,
                  status=status, error=error)
        with contextlib.suppress(BaseException):
            await events.aclose()


async def _sse_upstream(gw: Gateway, ticket: Ticket, job: Generate, route: Route, first: Any,
                        events: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    prompt = completion = n_chunks = 0
    status, error = 200, None
    fingerprint = shapes.fingerprint(route.backend, route.resolved.model)
    try:
        async for chunk in _chain(first, events):
            usage = chunk.get("usage")
            if usage:
                prompt = int(usage.get("prompt_tokens") or 0)
                completion = int(usage.get("completion_tokens") or 0)
            if not chunk.get("choices"):
                if usage and job.include_usage:
                    yield shapes.sse(chunk)
                continue
            if job.include_usage:  # OpenAI's shape: null until the usage chunk
                chunk.setdefault("usage", None)
            else:
                chunk.pop("usage", None)
            if chunk.get("system_fingerprint") is None:
                chunk["system_fingerprint"] = fingerprint
            n_chunks += 1
            yield shapes.sse(chunk)
        await gw.finish_settled(ticket, served_by=route, prompt_tokens=prompt,
                                completion_tokens=completion or n_chunks)
        yield shapes.SSE_DONE
    except (asyncio.CancelledError, GeneratorExit):
        status, error = 499, "client_disconnected"
        raise
    except Exception as exc:  # noqa: BLE001
        err = as_gateway_error(exc)
        status, error = err.status, err.code or err.type
        yield shapes.sse(err.body())
    finally:
        if completion == 0 and n_chunks:
            completion = n_chunks
        gw.finish(ticket, served_by=route, prompt_tokens=prompt, completion_tokens=completion,
                  status=status, error=error)
        with contextlib.suppress(BaseException):
            await events.aclose()
