"""Remote OpenAI-compatible upstreams, proxied through the official ``openai`` SDK.

The fast path of the gateway: a request for a model served by an OpenAI-compatible
upstream (OpenAI, vLLM, Ollama, llama.cpp server, another gateway) is forwarded as JSON
with the ``model`` field rewritten, through ``AsyncOpenAI.post``; the response body is
passed back as bytes (non-streaming) or re-emitted chunk by chunk (streaming), so the
gateway neither re-validates nor re-shapes what the upstream already shaped.

The SDK runs on its aiohttp transport when ``aiohttp`` is installed (the
``openai[aiohttp]`` extra), which roughly halves its per-request cost on loopback.

Retries (timeouts, 408/409/429/5xx, with exponential backoff and Retry-After) are the
SDK's, bounded by ``limits.retries``; when they run out the caller moves on to the
next model in the route's ``fallbacks``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

from lmscape.backends.openai_errors import map_error
from lmscape.errors import ConnectionFailedError, UpstreamError, require
from lmscape.serve.config import Limits, Route

NO_KEY = "no-key-needed"  # loopback and self-hosted endpoints may take any key


class OpenAIUpstream:
    """One AsyncOpenAI client per (base_url, key), shared by the routes that use it,
    found by route name on the hot path (the endpoint and key are read once per route,
    when its first request arrives).

    The endpoint and key come from the route's resolved connection
    (:mod:`lmscape.backends.connection`); failures are translated by the same function
    as the ``openai`` backend's (:func:`lmscape.backends.openai_errors.map_error`).
    """

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._clients: dict[tuple[str | None, str], Any] = {}
        self._by_route: dict[str, tuple[Route, Any]] = {}  # the hot path: no key lookup

    def _client(self, route: Route):
        client = self._by_route.get(route.name)
        if client is not None and client[0] is route:
            return client[1]
        client = self._build(route)
        self._by_route[route.name] = (route, client)
        return client

    def _build(self, route: Route):
        conn = route.resolved.connection
        assert conn is not None, f"{route.name} is not a remote model"
        base_url = conn.require_configured(route.resolved.model)
        key = conn.api_key(route.resolved.options) or NO_KEY
        ident = (base_url, key)
        client = self._clients.get(ident)
        if client is None:
            openai = require("openai", extra="openai")
            client = openai.AsyncOpenAI(
                api_key=key,
                base_url=base_url,
                max_retries=self._limits.retries,
                timeout=self._limits.request_timeout_s,
                http_client=_http_client(openai),
            )
            self._clients[ident] = client
        return client

    async def call(self, route: Route, path: str, body: dict[str, Any]) -> tuple[bytes, dict]:
        """POST ``body`` (with the upstream model name) to ``path``; raw bytes and parsed JSON."""
        client = self._client(route)
        try:
            raw = await client.post(path, body={**body, "model": route.resolved.model},
                                    cast_to=bytes)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route, client) from None
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise UpstreamError(f"{route.name}: upstream sent a body that is not JSON",
                                hint="check the upstream base_url") from None
        if not isinstance(parsed, dict):
            raise UpstreamError(f"{route.name}: upstream sent unexpected JSON",
                                hint="check the upstream base_url")
        return raw, parsed

    async def stream(self, route: Route, path: str, body: dict[str, Any]) -> AsyncIterator[dict]:
        """POST with ``stream: true``; yield each SSE chunk as a dict."""
        openai = require("openai", extra="openai")
        client = self._client(route)
        payload = {**body, "model": route.resolved.model, "stream": True,
                   "stream_options": {"include_usage": True}}
        try:
            chunks = await client.post(path, body=payload, cast_to=object, stream=True,
                                       stream_cls=openai.AsyncStream[object])
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route, client) from None
        try:
            async for chunk in chunks:
                yield chunk
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route, client) from None
        finally:
            await chunks.close()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        self._by_route.clear()


def _http_client(openai):
    """The SDK's aiohttp transport when ``aiohttp`` is installed (``openai[aiohttp]``):
    it costs about half of the default httpx transport per request; else the default."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return openai.DefaultAioHttpClient()


def translate(exc: Exception, route: Route, client: Any) -> Exception:
    """An ``openai`` SDK exception as an lmscape error (secrets redacted; the message
    names the route, never the upstream's address)."""
    import openai

    if not isinstance(exc, openai.OpenAIError):
        return exc
    if isinstance(exc, openai.APIConnectionError) and could_not_connect(exc):
        return ConnectionFailedError(
            f"cannot reach upstream {route.name}: the connection was refused or its host "
            "name did not resolve",
            hint="check the model's base_url and that its server is running")
    conn = route.resolved.connection
    return map_error(exc, base_url=str(client.base_url), model=route.resolved.model,
                     api_key=client.api_key, api_key_env=(conn.key_env or ("?",))[0],
                     where=f"upstream {route.name}")


# Transport errors that mean "nothing answered at that address", whichever HTTP stack the
# SDK runs on (httpx, or aiohttp through httpx-aiohttp, which may report them as timeouts).
_CONNECT_FAILURES = ("ConnectError", "ClientConnectorError", "ClientConnectorDNSError",
                     "ClientConnectorCertificateError")


def could_not_connect(exc: BaseException) -> bool:
    """True when ``exc`` (an SDK connection error or timeout) was caused by a refused
    connection or a failed name lookup rather than a slow server: such failures are
    502 ``upstream_unreachable``, not 504 ``upstream_timeout``."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError | socket.gaierror):
            return True
        if type(cause).__name__ in _CONNECT_FAILURES:
            return True
        cause = cause.__cause__ or cause.__context__
    return False
