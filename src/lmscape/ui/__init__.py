"""The dashboard ``lmscape serve`` shows at ``/ui``: leaderboards, catalog, recommend,
gateway spend and keys, a playground, bench runs.

Server-rendered pages (Jinja2) with two vendored scripts and no build step: htmx for
partial updates (``static/htmx.min.js``) and the plotly.js the HTML report embeds
(served from :func:`lmscape.report.plots.plotly_js`). Nothing is fetched from a CDN.

Each page calls the same library functions as the matching command (``lmscape report``,
``models``, ``fit``, ``recommend``, ``breakeven``, ``usage``, ``keys``, ``runs``); the
gateway's own facts (keys, usage, routes) arrive through :class:`GatewayView`, which
the gateway implements, so this package never imports the gateway or the CLI.

| module | page |
|---|---|
| ``app`` | ``create_ui_app(view)``: the ASGI app mounted at /ui |
| ``access`` | who may see the pages (the API's rule, plus admin keys) and CSRF |
| ``rendering`` | templates, static files, plotly.js |
| ``leaderboards``, ``catalog``, ``recommend`` | one page each |
| ``gateway``, ``playground``, ``runs``, ``login`` | one page each |
"""

from __future__ import annotations

from lmscape.ui.port import GatewayView

__all__ = ["GatewayView", "create_ui_app"]


def create_ui_app(view: GatewayView):
    """The dashboard as an ASGI app (mount it at ``/ui``)."""
    from lmscape.ui.app import create_ui_app as create

    return create(view)
