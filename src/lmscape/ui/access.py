"""Who may see the dashboard, and protection of its forms against cross-site requests.

Access follows the API's rule, with one addition:

1. While the gateway serves requests without a key (it listens on loopback, no active
   key exists, ``--require-key`` was not given), a browser on this machine sees every
   page: there is nothing to protect that the API does not already give away.
2. Otherwise a page needs an **admin** key (``lmscape keys create --admin``, or the
   admin box on the gateway page), presented once on ``/ui/login`` and then kept in an
   HttpOnly, SameSite=Strict cookie scoped to ``/ui`` (or sent as
   ``Authorization: Bearer lms-...`` by scripts). A valid key that is not an admin key
   gets 403; an unknown or revoked one is sent to the login page.

Every state-changing request (POST) must carry the per-browser CSRF token, as a form
field ``csrf`` or an ``X-CSRF-Token`` header, equal to the ``lmscape_csrf`` cookie
(double submit), and, where the browser sends an ``Origin``, come from this host.
A cross-site form can set neither. Secrets are never rendered: keys appear by name and
prefix; the one exception is a new key's secret, shown once in the answer to the POST
that created it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

from lmscape.backends.connection import is_loopback_host

SESSION_COOKIE = "lmscape_session"
CSRF_COOKIE = "lmscape_csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"


class LoginRequired(Exception):
    """No usable key: the browser is sent to the login page."""

    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


class NotAdmin(Exception):
    """A valid key that is not an admin key."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CsrfRejected(Exception):
    """A POST without the page's CSRF token, or from another origin."""


@dataclass(frozen=True)
class Viewer:
    """Who is looking. ``secret`` (the admin key, for the playground's calls to the
    API) is never rendered."""

    name: str | None  # None: open access on loopback
    secret: str | None = None

    @property
    def open(self) -> bool:
        return self.name is None


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    return bool(host) and is_loopback_host(host)


def viewer_for(request: Request) -> Viewer:
    """The viewer of this request, or :class:`LoginRequired` / :class:`NotAdmin`."""
    view = request.app.state.view
    secret = bearer(request.headers.get("authorization")) or request.cookies.get(SESSION_COOKIE)
    if not secret:
        if view.open_access() and client_is_loopback(request):
            return Viewer(None)
        raise LoginRequired()
    return check_admin(view, secret)


def check_admin(view, secret: str) -> Viewer:
    key = view.key_for_secret(secret)
    if key is None:
        raise LoginRequired("That key is not known to this gateway.")
    if not key.active:
        raise LoginRequired(f"The key {key.prefix}… has been revoked.")
    if not key.admin:
        raise NotAdmin(key.name)
    return Viewer(key.name, secret)


def require_viewer(request: Request) -> Viewer:
    """FastAPI dependency: the page's viewer (see the module docstring)."""
    viewer = viewer_for(request)
    request.state.viewer = viewer
    return viewer


# -- CSRF --------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """This browser's token (a new one is set as a cookie on the response)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


async def form_data(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (last value of each field)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def check_csrf(request: Request, form: dict[str, str] | None = None) -> None:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    sent = request.headers.get(CSRF_HEADER) or (form or {}).get("csrf") or ""
    if not cookie or not hmac.compare_digest(cookie, sent) or not _same_origin(request):
        raise CsrfRejected()
