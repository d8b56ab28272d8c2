"""The first thing every request meets: the key, then the body size, from the headers.

:class:`Guard` is a pure ASGI middleware in front of the routes. For every path but
the public ones (:data:`PUBLIC`), it

1. authenticates the ``Authorization`` header (a cached lookup, see
   :mod:`lmscape.serve.auth`) and answers 401 **before a byte of the body is read**, so
   an anonymous caller learns nothing about validation and costs no memory;
2. refuses a body whose ``Content-Length`` exceeds ``limits.max_body_mb`` with 413,
   again before reading it; a body sent without a length (chunked) is counted as it
   arrives and refused with 413 the moment it crosses the limit (the route then sees a
   disconnect, and whatever it answers is dropped);
3. hands the authenticated key to the routes in ``scope["state"]["caller"]`` (read with
   :func:`caller_of`), so that admission does not authenticate a second time.

Public paths authenticate themselves if they need to: ``/health`` (liveness for
anyone, details for a key), the OpenAPI documents, and the dashboard under ``/ui``.
"""

from __future__ import annotations

from typing import Any

from lmscape.serve.errors import GatewayError

PUBLIC = ("/health", "/docs", "/redoc", "/openapi.json", "/ui")
CALLER = "caller"
_UNSET = object()


def _is_public(path: str) -> bool:
    for prefix in PUBLIC:
        if path == prefix or path.startswith(prefix + "/"):
            return True
    return False


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"The request body is larger than this gateway accepts "
                        f"({limit} bytes); send less, or raise limits.max_body_mb.",
                        code="request_too_large", trusted=True)


def caller_of(scope: dict[str, Any]) -> Any:
    """The key the guard authenticated for this request (``None`` under open access),
    or :data:`_UNSET` when the guard did not run for it."""
    state = scope.get("state")
    return _UNSET if state is None else state.get(CALLER, _UNSET)


def was_authenticated(value: Any) -> bool:
    return value is not _UNSET


class Guard:
    """ASGI middleware: authenticate, then bound the body, before any route runs."""

    def __init__(self, app: Any, *, gateway: Any, max_body_bytes: int) -> None:
        self.app = app
        self.gateway = gateway
        self.limit = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        try:
            key = await self.gateway.authenticate(authorization)
            if length is not None and int(length) > self.limit:
                raise too_large(self.limit)
        except GatewayError as err:
            await err.response()(scope, receive, send)
            return
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[CALLER] = key
        if length is not None:  # the server reads no more than Content-Length
            await self.app(scope, receive, send)
        else:
            await self._counted(scope, receive, send)

    async def _counted(self, scope: dict, receive: Any, send: Any) -> None:
        """Run the app on a body without a length, refusing it once it is too large."""
        limit, seen, refused = self.limit, 0, False

        async def counting_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    await too_large(limit).response()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:  # after a 413, the route's own answer is dropped
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
