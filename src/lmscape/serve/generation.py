"""Run a chat or text completion on a route, with fallbacks, streaming or not.

A :class:`Job` carries what the routes parsed: the upstream JSON body (for
OpenAI-compatible upstreams) and the lmscape requests (for every other backend).
:func:`complete` returns a response; :func:`stream` returns an SSE response whose
first event has already been produced, so that a failing model can still fall back
to the next one before anything reached the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from starlette.responses import Response, StreamingResponse

from lmscape.backends.base import Backend, Request, Result, StreamChunk
from lmscape.errors import ContextLengthError
from lmscape.serve import shapes
from lmscape.serve.config import Route
from lmscape.serve.gateway import Gateway, Ticket, as_gateway_error, should_fall_back

log = logging.getLogger("lmscape.serve")


@dataclass
class Job:
    path: str  # upstream path: /chat/completions or /completions
    chat: bool
    body: dict[str, Any]  # the client's JSON (upstream model name is set by the proxy)
    requests: list[Request]  # the same, as lmscape requests
    include_usage: bool = False
    counted_prompt: int = 0  # set by fit_context, for streams' usage


def fit_context(backend: Backend, route: Route, req: Request, job: Job) -> Request:
    """Reject prompts longer than the context window; clamp max_tokens to what is left."""
    n_ctx = backend.context_length or route.context_window
    if req.messages is not None:
        texts = [m.get("content") or "" for m in req.messages]
    else:
        texts = [req.prompt or ""]
    n_prompt = sum(backend.count_tokens(t) for t in texts if t)
    job.counted_prompt = n_prompt
    if n_ctx is None:
        return req
    if n_prompt >= n_ctx:
        raise ContextLengthError(n_prompt, n_ctx, model=route.name)
    room = n_ctx - n_prompt
    return replace(req, max_tokens=min(req.max_tokens, room)) if req.max_tokens > room else req


def _generate(route: Route, job: Job):
    def run(backend: Backend) -> list[Result]:
        return backend.generate([fit_context(backend, route, r, job) for r in job.requests])

    return run


# -- non-streaming -------------------------------------------------------------------------
async def complete(gw: Gateway, ticket: Ticket, job: Job) -> Response:
    assert gw.pool is not None
    for i, route in enumerate(ticket.chain):
        try:
            if route.backend == "openai":
                raw, parsed = await gw.upstream.call(route, job.path, job.body)
                usage = parsed.get("usage") or {}
                gw.finish(ticket, served_by=route,
                          prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0))
                return shapes.json_response(raw)
            results = await gw.pool.call(route, _generate(route, job))
        except Exception as exc:  # noqa: BLE001
            if should_fall_back(exc) and i + 1 < len(ticket.chain):
                log.warning("%s failed (%s); falling back to %s", route.name,
                            type(exc).__name__, ticket.chain[i + 1].name)
                continue
            raise gw.fail(ticket, exc) from None
        total = shapes.sum_usage(results)
        gw.finish(ticket, served_by=route, prompt_tokens=total.prompt_tokens,
                  completion_tokens=total.completion_tokens)
        if job.chat:
            return shapes.json_response(shapes.chat_completion(ticket.model, results[0]))
        return shapes.json_response(shapes.text_completion(ticket.model, results))
    raise AssertionError("empty fallback chain")


# -- streaming -----------------------------------------------------------------------------
def _backend_events(gw: Gateway, route: Route, job: Job) -> AsyncIterator[StreamChunk]:
    assert gw.pool is not None
    request = job.requests[0]

    def open_stream(backend: Backend):
        # fitting needs the loaded backend's tokenizer: done in the stream's own thread
        return backend.stream(fit_context(backend, route, request, job))

    return gw.pool.stream(route, open_stream)


def _upstream_events(gw: Gateway, route: Route, job: Job) -> AsyncIterator[dict]:
    return gw.upstream.stream(route, job.path, job.body)


async def stream(gw: Gateway, ticket: Ticket, job: Job) -> Response:
    for i, route in enumerate(ticket.chain):
        events = (_upstream_events if route.backend == "openai" else _backend_events)(gw, route, job)
        try:
            first = await events.__anext__()
        except StopAsyncIteration:
            first = None
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                await events.aclose()
            if should_fall_back(exc) and i + 1 < len(ticket.chain):
                log.warning("%s failed (%s); falling back to %s", route.name,
                            type(exc).__name__, ticket.chain[i + 1].name)
                continue
            raise gw.fail(ticket, exc) from None
        body = _sse_upstream if route.backend == "openai" else _sse_backend

        async def cleanup(route: Route = route, events: AsyncIterator[Any] = events) -> None:
            if not ticket.finished:  # the client left before the body was ever sent
                gw.finish(ticket, served_by=route, status=499, error="client_disconnected")
            with contextlib.suppress(Exception):
                await events.aclose()

        return GatewayStream(
            body(gw, ticket, job, route, first, events),
            cleanup=cleanup,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    raise AssertionError("empty fallback chain")


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


async def _sse_backend(gw: Gateway, ticket: Ticket, job: Job, route: Route, first: Any,
                       events: AsyncIterator[StreamChunk]) -> AsyncIterator[bytes]:
    maker = shapes.ChunkMaker(ticket.model, chat=job.chat)
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


async def _sse_upstream(gw: Gateway, ticket: Ticket, job: Job, route: Route, first: Any,
                        events: AsyncIterator[dict]) -> AsyncIterator[bytes]:
    prompt = completion = n_chunks = 0
    status, error = 200, None
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
            if not job.include_usage:
                chunk.pop("usage", None)
            n_chunks += 1
            yield shapes.sse(chunk)
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

