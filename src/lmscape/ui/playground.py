"""``/ui/playground``: chat with any served model or ``auto:`` policy, streamed.

The page posts to ``/ui/playground/chat``, which sends the request to this gateway's
own ``/v1/chat/completions`` over loopback (the socket this server listens on), with
the signed-in admin key as the bearer token, and relays the Server-Sent Events as they
arrive. The request is therefore admitted, routed, billed and recorded exactly like
any API request. Response headers that name the system that answered
(``x-lmscape-*``) are passed on; the page shows them, or else the ``model`` of the
chunks, with time to first token, tokens per second and the cost at the route's price.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from lmscape.ui import access
from lmscape.ui.rendering import render

router = APIRouter()
MAX_BODY = 256_000
RELAYED = ("content-type", "cache-control")
TIMEOUT_S = 600.0


def own_base_url(request: Request) -> str:
    """``http://HOST:PORT`` of the socket this request arrived on (loopback when the
    server listens on every address)."""
    host, port = request.scope.get("server") or ("127.0.0.1", 8000)
    if host in ("0.0.0.0", "", None):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}"


@router.get("/playground")
async def playground_page(request: Request) -> Response:
    models = [m for m in request.app.state.view.served_models() if "chat" in m.kinds]
    models.sort(key=lambda m: (not m.name.startswith("auto:"), not m.local, m.name))
    return render(request, "playground.html.j2", page="playground", title="Playground",
                  models=models, has_auto=any(m.name.startswith("auto:") for m in models))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


@router.post("/playground/chat")
async def playground_chat(request: Request) -> Response:
    import httpx

    access.check_csrf(request)
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(413, "the conversation is too long for the playground")
    try:
        body: dict[str, Any] = json.loads(raw)
    except ValueError:
        return _error(400, "the playground sent a body that is not JSON")
    body.update(stream=True, stream_options={"include_usage": True})
    headers = {"content-type": "application/json"}
    viewer: access.Viewer = request.state.viewer
    if viewer.secret:
        headers["authorization"] = f"Bearer {viewer.secret}"
    client = httpx.AsyncClient(base_url=own_base_url(request), timeout=TIMEOUT_S)
    upstream = await client.send(client.build_request("POST", "/v1/chat/completions",
                                                      json=body, headers=headers),
                                 stream=True)
    relay = {k: v for k, v in upstream.headers.items()
             if k.lower() in RELAYED or k.lower().startswith("x-lmscape-")}

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code,
                             headers=relay, background=BackgroundTask(close))
