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
import os
from collections.abc import AsyncIterator
from typing import Any

from lmscape.backends.secrets import provider_key, redact
from lmscape.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ProviderError,
    RateLimitError,
    UpstreamError,
    require,
)
from lmscape.serve.config import Limits, Route


class OpenAIUpstream:
    """One AsyncOpenAI client per (base_url, key), shared by the routes that use it."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._clients: dict[tuple[str | None, str], Any] = {}

    def _client(self, route: Route):
        openai = require("openai", extra="openai")
        from lmscape.backends.openai_compat import is_loopback

        opts = route.options
        base_url = upstream_base_url(route)
        env = opts.get("api_key_env") or "OPENAI_API_KEY"
        key = opts.get("api_key") or provider_key(
            env, api_key_file=opts.get("api_key_file"), provider="OpenAI",
            required=not (base_url and is_loopback(base_url)),
        ) or "no-key-needed"
        ident = (base_url, key)
        client = self._clients.get(ident)
        if client is None:
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
            raw = await client.post(path, body={**body, "model": route.model}, cast_to=bytes)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route) from None
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
        payload = {**body, "model": route.model, "stream": True,
                   "stream_options": {"include_usage": True}}
        try:
            chunks = await client.post(path, body=payload, cast_to=object, stream=True,
                                       stream_cls=openai.AsyncStream[object])
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route) from None
        try:
            async for chunk in chunks:
                yield chunk
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, route) from None
        finally:
            await chunks.close()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def _http_client(openai):
    """The SDK's aiohttp transport when ``aiohttp`` is installed (``openai[aiohttp]``):
    it costs about half of the default httpx transport per request; else the default."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return None
    return openai.DefaultAioHttpClient()


def upstream_base_url(route: Route) -> str | None:
    """``base_url``, or the value of the variable named by ``base_url_env``."""
    opts = route.options
    if opts.get("base_url"):
        return str(opts["base_url"])
    if opts.get("base_url_env"):
        return os.environ.get(str(opts["base_url_env"])) or None
    return None


def translate(exc: Exception, route: Route) -> Exception:
    """An ``openai`` SDK exception as an lmscape ProviderError (secrets redacted)."""
    import openai

    status = getattr(exc, "status_code", None)
    detail = getattr(exc, "message", None) or str(exc)
    message = redact(f"upstream {route.name} ({route.model}): {detail}")
    if isinstance(exc, openai.APITimeoutError):
        err: ProviderError = UpstreamError(message + " (timed out)", hint="retry later")
    elif isinstance(exc, openai.APIConnectionError):
        err = ConnectionFailedError(message, hint="check the upstream base_url")
    elif isinstance(exc, openai.RateLimitError):
        err = RateLimitError(message, hint="slow down or raise the upstream limit")
    elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        err = AuthenticationError(message, hint="check the upstream API key variable")
    elif isinstance(exc, openai.APIStatusError) and (status or 0) >= 500:
        err = UpstreamError(message, hint="the upstream is failing; retry later")
    elif isinstance(exc, openai.APIStatusError):
        err = ProviderError(message, hint="check the request parameters")
    elif isinstance(exc, openai.APIError):
        err = UpstreamError(message, hint="the upstream stream failed")
    else:
        return exc
    err.status_code = status
    return err
