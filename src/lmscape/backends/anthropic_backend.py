"""Anthropic Claude through the official ``anthropic`` SDK (Messages API).

Translation, both ways:

| lmscape / OpenAI                     | Anthropic Messages API                         |
|--------------------------------------|------------------------------------------------|
| ``system`` messages                  | the top-level ``system`` string (joined)       |
| consecutive same-role messages       | merged (the API requires alternating roles)    |
| raw ``prompt``                       | one user message                               |
| ``temperature`` 0..2                 | clamped to 0..1                                |
| ``stop``                             | ``stop_sequences``                             |
| ``usage.prompt/completion_tokens``   | ``usage.input_tokens`` / ``output_tokens``     |
| ``finish_reason`` stop / length      | ``stop_reason`` end_turn, stop_sequence / max_tokens |

The key comes from ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_API_KEY_FILE``, or
``api_key_file=``); it is never logged and is redacted from error messages. The SDK's
own retries are off: connection errors, timeouts, 408/409/429 and 5xx are retried by
:mod:`lmscape.backends.retry` (``max_retries``, exponential backoff from
``backoff_base`` seconds, Retry-After honoured) and counted in ``info()["retries"]``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from lmscape.backends.base import Request, Result, StreamChunk, Timings, Usage
from lmscape.backends.connection import connect
from lmscape.backends.remote import RemoteBackend
from lmscape.backends.retry import RetryDecision, is_retryable_status, parse_retry_after
from lmscape.backends.secrets import redact
from lmscape.errors import (
    AuthenticationError,
    BackendError,
    ConnectionFailedError,
    ProviderError,
    RateLimitError,
    UpstreamError,
    require,
)

ENV_KEYS = ("ANTHROPIC_API_KEY",)
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def to_anthropic(request: Request) -> tuple[str | None, list[dict[str, str]]]:
    """(system, messages) for the Messages API from a lmscape request."""
    if request.prompt is not None:
        return None, [{"role": "user", "content": request.prompt}]
    system_parts: list[str] = []
    messages: list[dict[str, str]] = []
    for message in request.messages or ():
        role, content = message.get("role", "user"), message.get("content") or ""
        if role in ("system", "developer"):
            system_parts.append(content)
            continue
        role = "assistant" if role == "assistant" else "user"
        if messages and messages[-1]["role"] == role:
            messages[-1] = {"role": role, "content": messages[-1]["content"] + "\n\n" + content}
        else:
            messages.append({"role": role, "content": content})
    if not messages or messages[0]["role"] != "user":
        messages.insert(0, {"role": "user", "content": "(continue)"})
    return ("\n\n".join(system_parts) or None), messages


class AnthropicBackend(RemoteBackend):
    """Claude models. ``AnthropicBackend("claude-3-5-haiku-latest")``."""

    name: ClassVar[str] = "anthropic"
    requires: ClassVar[tuple[str, ...]] = ("anthropic",)
    extra: ClassVar[str | None] = "anthropic"
    key_env: ClassVar[tuple[str, ...]] = ENV_KEYS
    base_url_env: ClassVar[str | None] = "ANTHROPIC_BASE_URL"  # the SDK's own variable
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com"

    def __init__(
        self,
        model: str,
        *,
        model_id: str = "",
        base_url: str | None = None,
        api_key_env: str | tuple[str, ...] | None = None,
        api_key_file: str | None = None,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        timeout: float = 60.0,
        concurrency: int = 4,
        context_window: int | None = None,
    ) -> None:
        anthropic = require("anthropic", extra="anthropic")
        self._setup(model, model_id, max_retries=max_retries, backoff_base=backoff_base,
                    concurrency=concurrency, context_window=context_window)
        conn = connect(type(self), {"base_url": base_url, "api_key_env": api_key_env,
                                    "api_key_file": api_key_file})
        base_url = conn.base_url
        key = conn.api_key()
        self._sdk = anthropic
        self._client = anthropic.Anthropic(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout
        )
        create = self._client.messages.create
        self._typed_sampling = "temperature" in inspect.signature(create).parameters

    # -- calls -------------------------------------------------------------------------
    def _params(self, request: Request) -> dict[str, Any]:
        system, messages = to_anthropic(request)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max(1, request.max_tokens),
        }
        sampling: dict[str, Any] = {"temperature": min(1.0, max(0.0, request.temperature))}
        if request.top_p < 1.0:
            sampling["top_p"] = request.top_p
        if self._typed_sampling:
            params.update(sampling)
        else:  # newer SDKs dropped the typed sampling parameters; the API still takes them
            params["extra_body"] = sampling
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    def _one(self, request: Request) -> Result:
        start = time.perf_counter()
        params = self._params(request)
        message = self._call(lambda: self._client.messages.create(**params))
        text = "".join(getattr(b, "text", "") for b in message.content)
        usage = Usage(
            prompt_tokens=message.usage.input_tokens or 0,
            completion_tokens=message.usage.output_tokens or 0,
        )
        total = time.perf_counter() - start
        return Result(
            text=text,
            usage=usage,
            timings=Timings(total_s=total),
            finish_reason=_FINISH.get(message.stop_reason or "", "stop"),
            model=self.model_id,
        )

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        start = time.perf_counter()
        first: float | None = None
        prompt_tokens = completion_tokens = 0
        finish = "stop"
        params = self._params(request)
        events = self._call(lambda: self._client.messages.create(stream=True, **params))
        try:
            for event in events:
                kind = event.type
                if kind == "message_start":
                    prompt_tokens = event.message.usage.input_tokens or 0
                    completion_tokens = event.message.usage.output_tokens or 0
                elif kind == "content_block_delta" and getattr(event.delta, "text", None):
                    if first is None:
                        first = time.perf_counter()
                    yield StreamChunk(text=event.delta.text)
                elif kind == "message_delta":
                    if event.usage is not None and event.usage.output_tokens is not None:
                        completion_tokens = event.usage.output_tokens
                    finish = _FINISH.get(event.delta.stop_reason or "", finish)
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None
        finally:
            events.close()
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
            timings=Timings.measure(start, first, completion_tokens),
        )

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()

    # -- errors ------------------------------------------------------------------------
    def _retry_decision(self, exc: BaseException) -> RetryDecision | None:
        sdk = self._sdk
        if isinstance(exc, sdk.APIConnectionError):  # includes timeouts
            return RetryDecision(reason=type(exc).__name__)
        if isinstance(exc, sdk.APIStatusError) and is_retryable_status(exc.status_code):
            headers = dict(exc.response.headers) if exc.response is not None else None
            return RetryDecision(retry_after=parse_retry_after(headers),
                                 reason=str(exc.status_code))
        return None

    def _translate(self, exc: Exception) -> BackendError:
        """SDK exception -> lmscape error, with secrets redacted."""
        sdk = self._sdk
        message = redact(f"Anthropic ({self.model_id}): {getattr(exc, 'message', None) or exc}")
        status = getattr(exc, "status_code", None)
        if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
            err: ProviderError = AuthenticationError(
                message, hint="check ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY_FILE)"
            )
        elif isinstance(exc, sdk.RateLimitError):
            err = RateLimitError(message, hint="slow down or raise the Anthropic rate limit")
        elif isinstance(exc, sdk.APITimeoutError):
            err = UpstreamError(message, hint="retry later or raise timeout=")
        elif isinstance(exc, sdk.APIConnectionError):
            err = ConnectionFailedError(message, hint="check the network and base_url")
        elif isinstance(exc, sdk.APIStatusError) and (status or 0) >= 500:
            err = UpstreamError(message, hint="Anthropic is failing; retry later")
        elif isinstance(exc, sdk.APIStatusError):
            err = ProviderError(message, hint="check the request parameters and model name")
        else:
            return BackendError(redact(str(exc)))
        err.status_code = status
        return err
