"""``/ui/login`` (present an admin key once; it is kept in an HttpOnly cookie) and
``/ui/logout``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lmscape.ui import access
from lmscape.ui.rendering import render

router = APIRouter()


def _safe_next(request: Request, nxt: str | None) -> str:
    root = request.scope.get("root_path", "")
    if nxt and nxt.startswith(root + "/") and not nxt.startswith("//"):
        return nxt
    return f"{root}/leaderboards"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    open_now = request.app.state.view.open_access() and access.client_is_loopback(request)
    return render(request, "login.html.j2", next=_safe_next(request, next), why="",
                  open_now=open_now)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await access.form_data(request)
    access.check_csrf(request, form)
    secret = (form.get("key") or "").strip()
    if not secret:
        raise access.LoginRequired("Paste an admin key (lms-...).")
    viewer = access.check_admin(request.app.state.view, secret)
    response = RedirectResponse(_safe_next(request, form.get("next")), status_code=303)
    set_session(request, response, viewer.secret or "")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    access.check_csrf(request, await access.form_data(request))
    response = RedirectResponse(f"{request.scope.get('root_path', '')}/login", status_code=303)
    response.delete_cookie(access.SESSION_COOKIE, path=access.COOKIE_PATH)
    return response


def set_session(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(access.SESSION_COOKIE, secret, path=access.COOKIE_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
