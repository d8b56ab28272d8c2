"""Google Gemini through the official ``google-genai`` SDK (generateContent).

Translation, both ways:

| lmscape / OpenAI                     | Gemini API                                      |
|--------------------------------------|-------------------------------------------------|
| ``system`` messages                  | ``system_instruction`` (joined)                 |
| role ``assistant``                   | role ``model``                                  |
| consecutive same-role messages       | merged into one ``Content`` with several parts  |
| raw ``prompt``                       | one user ``Content``                            |
| ``max_tokens`` / ``stop`` / ``seed`` | ``max_output_tokens`` / ``stop_sequences`` / ``seed`` |
| ``usage``                            | ``usage_metadata.prompt_token_count`` / ``candidates_token_count`` |
| ``finish_reason`` stop / length      | ``FinishReason.STOP`` / ``MAX_TOKENS``          |

The key comes from ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` (or ``*_FILE``, or
``api_key_file=``); it is redacted from error messages. The SDK's own retries are
off: connection errors, timeouts, 408/409/429 and 5xx are retried by
:mod:`lmscape.backends.retry` (``max_retries``, backoff from ``backoff_base`` seconds,
Retry-After honoured) and counted in ``info()["retries"]``.
"""

from __future__ import annotations

import contextlib
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

ENV_KEYS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


def to_gemini(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """(system_instruction, contents) for generateContent from a lmscape request."""
    if request.prompt is not None:
        return None, [{"role": "user", "parts": [{"text": request.prompt}]}]
    system_parts: list[str] = []
    contents: list[dict[str, Any]] = []
    for message in request.messages or ():
        role, text = message.get("role", "user"), message.get("content") or ""
        if role in ("system", "developer"):
            system_parts.append(text)
            continue
        role = "model" if role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": text})
        else:
            contents.append({"role": role, "parts": [{"text": text}]})
    if not contents:
        contents.append({"role": "user", "parts": [{"text": ""}]})
    return ("\n\n".join(system_parts) or None), contents


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    name = getattr(reason, "name", None) or str(reason)
    return "length" if name.endswith("MAX_TOKENS") else "stop"


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def _usage(meta: Any) -> Usage:
    if meta is None:
        return Usage()
    return Usage(
        prompt_tokens=getattr(meta, "prompt_token_count", None) or 0,
        completion_tokens=getattr(meta, "candidates_token_count", None) or 0,
    )


def _text(response: Any) -> str:
    """Concatenated text parts of the first candidate (no SDK warnings on empty)."""
    candidates = getattr(response, "candidates", None) or []
    if not candidates or candidates[0].content is None:
        return ""
    return "".join(p.text or "" for p in (candidates[0].content.parts or []) if not p.thought)


class GoogleBackend(RemoteBackend):
    """Gemini models. ``GoogleBackend("gemini-2.0-flash")``."""

    name: ClassVar[str] = "google"
    requires: ClassVar[tuple[str, ...]] = ("google.genai",)
    extra: ClassVar[str | None] = "google"
    key_env: ClassVar[tuple[str, ...]] = ENV_KEYS
    base_url_env: ClassVar[str | None] = "GOOGLE_GEMINI_BASE_URL"  # the SDK's own variable
    default_base_url: ClassVar[str | None] = "https://generativelanguage.googleapis.com"

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
        require("google.genai", package="google-genai", extra="google")
        from google import genai
        from google.genai import errors, types

        self._types, self._errors = types, errors
        self._setup(model, model_id, max_retries=max_retries, backoff_base=backoff_base,
                    concurrency=concurrency, context_window=context_window)
        conn = connect(type(self), {"base_url": base_url, "api_key_env": api_key_env,
                                    "api_key_file": api_key_file})
        base_url = conn.base_url
        key = conn.api_key()
        http_options = types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),  # lmscape retries, counted
        )
        self._client = genai.Client(api_key=key, http_options=http_options)

    def _config(self, request: Request, system: str | None):
        params: dict[str, Any] = {
            "max_output_tokens": max(1, request.max_tokens),
            "temperature": request.temperature,
        }
        if system:
            params["system_instruction"] = system
        if request.top_p < 1.0:
            params["top_p"] = request.top_p
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        return self._types.GenerateContentConfig(**params)

    def _one(self, request: Request) -> Result:
        system, contents = to_gemini(request)
        start = time.perf_counter()
        config = self._config(request, system)
        response = self._call(lambda: self._client.models.generate_content(
            model=self.model, contents=contents, config=config))
        candidates = response.candidates or []
        return Result(
            text=_text(response),
            usage=_usage(response.usage_metadata),
            timings=Timings(total_s=time.perf_counter() - start),
            finish_reason=(_finish(candidates[0].finish_reason) if candidates else None) or "stop",
            model=self.model_id,
        )

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        system, contents = to_gemini(request)
        start = time.perf_counter()
        first: float | None = None
        usage, finish = Usage(), "stop"
        config = self._config(request, system)

        def open_stream() -> tuple[Any, Iterator[Any]]:
            # the request is sent when the first chunk is asked for: retry both together
            it = iter(self._client.models.generate_content_stream(
                model=self.model, contents=contents, config=config))
            return next(it, None), it

        first_chunk, chunks = self._call(open_stream)
        try:
            for chunk in _prepend(first_chunk, chunks):
                text = _text(chunk)
                if text:
                    if first is None:
                        first = time.perf_counter()
                    yield StreamChunk(text=text)
                if chunk.usage_metadata is not None:
                    usage = _usage(chunk.usage_metadata)
                if chunk.candidates:
                    finish = _finish(chunk.candidates[0].finish_reason) or finish
        except GeneratorExit:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            usage=usage,
            timings=Timings.measure(start, first, usage.completion_tokens),
        )

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def close(self) -> None:
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            with contextlib.suppress(Exception):  # closing is best effort
                client.close()

    def _retry_decision(self, exc: BaseException) -> RetryDecision | None:
        if isinstance(exc, self._errors.APIError):
            if not is_retryable_status(exc.code):
                return None
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return RetryDecision(retry_after=parse_retry_after(dict(headers or {})),
                                 reason=str(exc.code))
        name = type(exc).__name__.lower()
        if "timeout" in name or "connect" in name:
            return RetryDecision(reason=type(exc).__name__)
        return None

    def _translate(self, exc: Exception) -> BackendError:
        """SDK exception -> lmscape error, with secrets redacted."""
        errors = self._errors
        message = redact(f"Google ({self.model_id}): {getattr(exc, 'message', None) or exc}")
        if isinstance(exc, errors.APIError):
            code = exc.code or 0
            if code in (401, 403):
                err: ProviderError = AuthenticationError(
                    message, hint="check GOOGLE_API_KEY (or GEMINI_API_KEY)"
                )
            elif code == 429:
                err = RateLimitError(message, hint="slow down or raise the Gemini quota")
            elif code >= 500 or code == 408:
                err = UpstreamError(message, hint="Gemini is failing; retry later")
            else:
                err = ProviderError(message, hint="check the request parameters and model name")
            err.status_code = code
            return err
        name = type(exc).__name__.lower()
        if "timeout" in name:
            return UpstreamError(message, hint="retry later or raise timeout=")
        if "connect" in name:
            return ConnectionFailedError(message, hint="check the network and base_url")
        return BackendError(message)
