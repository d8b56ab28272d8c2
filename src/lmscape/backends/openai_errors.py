"""Map ``openai`` SDK exceptions to lmscape errors, and decide which ones to retry.

| SDK exception                          | retried | lmscape error (after retries)   |
|----------------------------------------|---------|---------------------------------|
| APIConnectionError (refused, DNS, …)   | yes     | ConnectionFailedError           |
| APITimeoutError                        | yes     | UpstreamError                   |
| 401 / 403                              | no      | AuthenticationError             |
| 429                                    | yes     | RateLimitError                  |
| 408 / 409 / 5xx                        | yes     | UpstreamError                   |
| 400 that says the context is too long  | no      | ContextLengthError              |
| any other 4xx                          | no      | ProviderError                   |

Messages never contain the API key: :func:`lmscape.backends.secrets.redact` scrubs it
(and anything shaped like a key or bearer token) from text taken from the server.
"""

from __future__ import annotations

import re

from lmscape.backends import secrets
from lmscape.backends.retry import RetryDecision, is_retryable_status, parse_retry_after
from lmscape.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ContextLengthError,
    LmscapeError,
    ProviderError,
    RateLimitError,
    UpstreamError,
)

# Servers word context overflows differently; each pattern captures (requested, limit).
_CONTEXT_PATTERNS = (
    # OpenAI, vLLM: "maximum context length is 2048 tokens. However, you requested 3000 tokens"
    re.compile(
        r"maximum context length is (?P<limit>\d+) tokens.*?(?:requested|resulted in) "
        r"(?P<n>\d+) tokens",
        re.DOTALL | re.IGNORECASE,
    ),
    # llama-cpp-python: "Requested tokens (3000) exceed context window of 2048"
    re.compile(r"Requested tokens \((?P<n>\d+)\) exceed context window of (?P<limit>\d+)", re.IGNORECASE),
    # llama.cpp server: "the request exceeds the available context size (2048 tokens)"
    re.compile(r"exceeds the available context size,? \(?(?P<limit>\d+) tokens", re.IGNORECASE),
)
_CONTEXT_WORDS = ("context length", "context window", "context size", "too many tokens")


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if body.get("message"):
            return str(body["message"])
        if body.get("detail"):
            return str(body["detail"])
    return getattr(exc, "message", None) or str(exc)


def classify_for_retry(exc: BaseException) -> RetryDecision | None:
    """Which SDK failures are worth another try (used with ``call_with_retries``)."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return RetryDecision(reason=type(exc).__name__)
    if isinstance(exc, openai.APIStatusError) and is_retryable_status(exc.status_code):
        headers = dict(exc.response.headers) if exc.response is not None else None
        return RetryDecision(retry_after=parse_retry_after(headers), reason=str(exc.status_code))
    return None


def _context_error(message: str, model: str) -> ContextLengthError | None:
    for pattern in _CONTEXT_PATTERNS:
        m = pattern.search(message)
        if m:
            groups = m.groupdict()
            n = int(groups["n"]) if groups.get("n") else 0
            err = ContextLengthError(n, int(groups["limit"]), model=model)
            if not n:
                who = model or "the model"
                err.message = f"prompt exceeds the context window of {who} ({groups['limit']} tokens)"
            return err
    lowered = message.lower()
    if any(word in lowered for word in _CONTEXT_WORDS):
        err = ContextLengthError(0, 0, model=model)
        err.message = f"prompt does not fit the context window of {model or 'the model'}: {message}"
        return err
    return None


def map_error(
    exc: Exception, *, base_url: str, model: str, api_key: str | None, api_key_env: str,
    where: str | None = None,
) -> LmscapeError:
    """The lmscape error for an SDK exception (raise it ``from exc``). ``where`` names
    the endpoint in messages (default: the base URL and model; the gateway names the
    route instead, so that clients never learn upstream addresses)."""
    import openai

    public = where is not None  # the message goes to someone who must not see the URL
    where = where or f"{base_url} (model {model})"
    msg = secrets.redact(_server_message(exc), api_key)
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError(
            f"{where} timed out after retries",
            hint="raise timeout=, lower concurrency=, or check the server's load",
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {secrets.redact(str(cause), api_key)}" if cause and not public else ""
        return ConnectionFailedError(
            f"cannot reach {where}{detail}",
            hint="check base_url and that the server is running and listening there",
        )
    if not isinstance(exc, openai.APIStatusError):
        return ProviderError(f"{where}: {secrets.redact(str(exc), api_key)}")
    status = exc.status_code
    err: LmscapeError
    if status in (401, 403):
        err = AuthenticationError(
            f"{where} rejected the API key ({status}): {msg}",
            hint=f"export {api_key_env}=... with a valid key for this endpoint",
        )
    elif status == 429:
        err = RateLimitError(
            f"{where} kept answering 429 (rate limited): {msg}",
            hint="lower concurrency=, raise max_retries=, or check your quota",
        )
    elif status >= 500 or status in (408, 409):
        err = UpstreamError(
            f"{where} kept failing ({status}): {msg}",
            hint="retry later; if it persists, check the server's logs",
        )
    else:
        ctx = _context_error(msg, model) if status in (400, 413, 422) else None
        if ctx is not None:
            ctx.status_code = status  # type: ignore[attr-defined]
            return ctx
        err = ProviderError(
            f"{where} refused the request ({status}): {msg}",
            hint="check the model name and request options for this endpoint",
        )
    err.status_code = status  # type: ignore[misc]
    return err
