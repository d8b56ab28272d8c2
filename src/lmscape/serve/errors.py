"""OpenAI-style error responses: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can cause maps to a 4xx; a missing or wrong key is a 401 before
anything else (:mod:`lmscape.serve.guard`); upstream failures to 429/502/503/504;
only a bug in lmscape itself is a 500. Messages pass through :func:`redact`, so no
provider key ever reaches a client or a log.

| cause                                   | status | type                   | code                      |
|-----------------------------------------|--------|------------------------|---------------------------|
| malformed JSON, invalid parameter       | 400    | invalid_request_error  | invalid_json / invalid_value / invalid_type / missing_required_parameter |
| prompt longer than the context window   | 400    | invalid_request_error  | context_length_exceeded   |
| operation the model cannot do           | 400    | invalid_request_error  | unsupported_operation     |
| missing / wrong / revoked gateway key   | 401    | authentication_error   | invalid_api_key           |
| unknown model, or one outside the key's allow-list (as OpenAI: no hint that it exists) | 404 | not_found_error | model_not_found |
| body larger than ``limits.max_body_mb``  | 413    | invalid_request_error  | request_too_large         |
| rate limit / budget exhausted           | 429    | rate_limit_error / insufficient_quota | rate_limit_exceeded / insufficient_quota |
| upstream failed after retries+fallbacks | 502/504| upstream_error         | upstream_error / upstream_timeout |
| upstream refused the connection, DNS failed | 502 | upstream_error         | upstream_unreachable      |
| model queue full, model cannot load     | 503    | overloaded_error       | model_overloaded / model_unavailable |
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from lmscape import errors as lerr
from lmscape.backends.secrets import redact


class GatewayError(Exception):
    """An error that becomes an OpenAI-style JSON response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        trusted: bool = False,
    ) -> None:
        """``trusted``: the message is lmscape's own fixed text (it quotes no upstream,
        header or body), so it skips the redactor, which would garble examples such as
        ``Bearer lms-...``."""
        super().__init__(message)
        self.status, self.message = status, message if trusted else redact(message)
        self.type, self.param, self.code = type, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> Response:
        return Response(
            json.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


def not_found_model(name: str, known: list[str]) -> GatewayError:
    err = lerr.NotFoundError("model", name, known)
    return GatewayError(
        404,
        f"The model {name!r} does not exist or you do not have access to it. "
        f"{err.message.split(';', 1)[1].strip() if ';' in err.message else ''}".strip(),
        type="not_found_error",
        param="model",
        code="model_not_found",
    )


def from_lmscape(exc: lerr.LmscapeError) -> GatewayError:
    """Map an lmscape exception raised while serving to a gateway error."""
    text = exc.message
    if isinstance(exc, lerr.ContextLengthError):
        return GatewayError(400, text, param="messages", code="context_length_exceeded")
    if isinstance(exc, lerr.CapabilityError):
        return GatewayError(400, text, param="model", code="unsupported_operation")
    if isinstance(exc, lerr.NotFoundError):
        return GatewayError(404, text, type="not_found_error", param="model",
                            code="model_not_found")
    if isinstance(exc, lerr.RateLimitError):
        return GatewayError(429, text, type="rate_limit_error", code="rate_limit_exceeded",
                            headers={"Retry-After": "1"})
    if isinstance(exc, lerr.AuthenticationError):
        return GatewayError(502, f"upstream rejected the provider key: {text}",
                            type="upstream_error", code="upstream_auth")
    if isinstance(exc, lerr.UpstreamError):
        timeout = "timed out" in text.lower() or "timeout" in text.lower()
        return GatewayError(504 if timeout else 502, text, type="upstream_error",
                            code="upstream_timeout" if timeout else "upstream_error")
    if isinstance(exc, lerr.ConnectionFailedError):
        return GatewayError(502, text, type="upstream_error", code="upstream_unreachable")
    if isinstance(exc, lerr.ProviderError):
        status = exc.status_code if exc.status_code and 400 <= exc.status_code < 500 else 502
        return GatewayError(status, text, type="upstream_error", code="upstream_error")
    if isinstance(exc, lerr.MissingDependencyError | lerr.ModelLoadError):
        return GatewayError(503, f"{text} ({exc.hint})" if exc.hint else text,
                            type="overloaded_error", code="model_unavailable")
    if isinstance(exc, lerr.BackendError):
        return GatewayError(502, text, type="upstream_error", code="backend_error")
    return GatewayError(400, text, code="invalid_request")


def internal(exc: BaseException) -> GatewayError:
    """A bug: a 500 with the exception type, never its (possibly secret) text."""
    return GatewayError(500, f"internal gateway error ({type(exc).__name__})",
                        type="server_error", code="internal_error")
