"""``create_ui_app(view)``: the dashboard's ASGI app, which the gateway mounts at /ui.

Every page requires :func:`lmscape.ui.access.require_viewer`; every POST checks the
CSRF token. Errors with a hint (:class:`lmscape.errors.LmscapeError`) are shown on the
page as one line plus the hint, never as a traceback.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lmscape.errors import LmscapeError, NotFoundError
from lmscape.ui import access
from lmscape.ui.port import GatewayView
from lmscape.ui.rendering import render, static_response

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",  # no clickjacking of the key forms
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(access.LoginRequired)
    async def _login(request: Request, exc: access.LoginRequired) -> Response:
        root = request.scope.get("root_path", "")
        target = f"{root}/login"
        if _is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": target})
        if request.method != "GET":
            return render(request, "login.html.j2", status_code=401, why=exc.why, next="")
        nxt = request.url.path
        return RedirectResponse(f"{target}?next={nxt}", status_code=303)

    @app.exception_handler(access.NotAdmin)
    async def _forbidden(request: Request, exc: access.NotAdmin) -> Response:
        return render(request, "login.html.j2", status_code=403, next="",
                      why=f"The key {exc.name!r} is not an admin key: the dashboard needs one "
                          "(lmscape keys create --name NAME --admin).")

    @app.exception_handler(access.CsrfRejected)
    async def _csrf(request: Request, _exc: access.CsrfRejected) -> Response:
        return render(request, "error.html.j2", status_code=403, title="Request refused",
                      message="This form was not sent from a dashboard page (its CSRF token "
                              "is missing or wrong).", hint="reload the page and try again")

    @app.exception_handler(LmscapeError)
    async def _lmscape(request: Request, exc: LmscapeError) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return render(request, "error.html.j2", status_code=status, title="Cannot show this",
                      message=str(exc), hint=getattr(exc, "hint", None))


def create_ui_app(view: GatewayView) -> FastAPI:
    from lmscape.ui import catalog, gateway, leaderboards, login, playground, recommend, runs

    app = FastAPI(title="lmscape dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.view = view
    _install_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        new = getattr(request.state, "new_csrf", None)
        if new and not request.cookies.get(access.CSRF_COOKIE):
            response.set_cookie(access.CSRF_COOKIE, new, path=access.COOKIE_PATH,
                                samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    async def _static(name: str) -> Response:
        return static_response(name)

    @app.get("/", include_in_schema=False)
    async def _index(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/leaderboards",
                                status_code=303)

    app.include_router(login.router)
    guarded = [Depends(access.require_viewer)]
    for module in (leaderboards, catalog, recommend, gateway, playground, runs):
        app.include_router(module.router, dependencies=guarded)
    return app
