"""Templates, static files and the plotly.js the HTML report embeds.

Templates are looked up in this package's ``templates/`` first and then in the
decide package's (so the recommendation is drawn by the report's own template).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from lmscape._version import __version__
from lmscape.report import fmt
from lmscape.ui.access import csrf_token

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
DECIDE_TEMPLATES = HERE.parent / "decide" / "templates"

PAGES = (  # (path, title) in the navigation bar
    ("leaderboards", "Leaderboards"),
    ("catalog", "Catalog"),
    ("recommend", "Recommend"),
    ("gateway", "Gateway"),
    ("playground", "Playground"),
    ("runs", "Runs"),
)
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}


@functools.cache
def environment():
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)),
                             FileSystemLoader(str(DECIDE_TEMPLATES))]),
        autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.globals.update(fmt=fmt, version=__version__, pages=PAGES, asset=asset_url)
    return env


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page (or an htmx fragment) with the viewer, CSRF token and navigation."""
    html = environment().get_template(template).render(
        request=request, viewer=getattr(request.state, "viewer", None),
        csrf=csrf_token(request), root=request.scope.get("root_path", ""), **context)
    return HTMLResponse(html, status_code=status_code)


@functools.cache
def _static_bytes(name: str) -> tuple[bytes, str]:
    if name == "plotly.min.js":
        from lmscape.report.plots import plotly_js

        data = plotly_js().encode("utf-8")
    else:
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            raise FileNotFoundError(name)
        data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def asset_url(name: str) -> str:
    """``static/NAME?v=DIGEST``: cached by browsers until the file changes."""
    try:
        digest = _static_bytes(name)[1]
    except FileNotFoundError:
        digest = __version__
    return f"static/{name}?v={digest}"


def static_response(name: str) -> Response:
    try:
        data, digest = _static_bytes(name)
    except FileNotFoundError:
        return Response("not found", status_code=404, media_type="text/plain")
    media = STATIC_TYPES.get(Path(name).suffix, "application/octet-stream")
    return Response(data, media_type=media, headers={
        "Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{digest}"'})
