"""``/ui/gateway``: spend and requests by key, model, day and route (charts and
tables), each key's budget (spent, reserved by requests in flight, left), and key
creation and revocation (admins only: every page is).

The figures are :func:`GatewayView.usage`: ``lmscape usage --by ... --json`` for the
four groupings, read in one scan of the usage rows;
the cost column is printed as that command prints it (six decimals of a dollar).
A key's *spent* is the sum of its settled usage rows; what the key record holds
beyond that is *reserved* by requests still running (see ``serve/accounting.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lmscape.errors import ConfigError, LmscapeError
from lmscape.ui import access
from lmscape.ui.rendering import render

router = APIRouter()
GROUPS = ("key", "model", "day", "served")
NANO = 1_000_000_000
CHART_COLOUR = "#2563eb"


def budget_rows(keys: list[Any], by_key: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per key: budget, settled spend, reservations in flight (nano-dollars exact)."""
    settled = {r["group"]: round(r["cost_usd"] * NANO) for r in by_key}
    rows = []
    for k in keys:
        spent = settled.get(k.name, 0)
        reserved = max(0, (k.spent_nusd or 0) - spent)
        budget = k.budget_nusd
        rows.append({
            "key": k, "spent_usd": spent / NANO, "reserved_usd": reserved / NANO,
            "budget_usd": None if budget is None else budget / NANO,
            "left_usd": None if budget is None else max(0, budget - spent - reserved) / NANO,
            "spent_pct": 0 if not budget else min(100.0, 100.0 * spent / budget),
            "reserved_pct": 0 if not budget else min(100.0, 100.0 * reserved / budget),
        })
    return rows


def chart(rows: list[dict[str, Any]], field: str, title: str, axis: str) -> dict[str, Any]:
    """A plotly bar chart (data + layout; the page hands it to plotly.js as JSON)."""
    spec = {
        "data": [{"type": "bar", "x": [str(r["group"]) for r in rows],
                  "y": [r[field] for r in rows], "marker": {"color": CHART_COLOUR},
                  "hovertemplate": "%{x}<br>%{y}<extra></extra>"}],
        "layout": {"title": {"text": title, "x": 0.02, "font": {"size": 14}},
                   "height": 300, "margin": {"l": 60, "r": 10, "t": 40, "b": 70},
                   "template": None, "yaxis": {"title": {"text": axis}},
                   "font": {"family": "system-ui, sans-serif", "size": 12}},
    }
    return spec


def gateway_context(view) -> dict[str, Any]:
    usage = view.usage()
    keys = view.list_keys()
    total = {"requests": sum(r["requests"] for r in usage["model"]),
             "cost_usd": sum(round(r["cost_usd"] * NANO) for r in usage["model"]) / NANO,
             "errors": sum(r["errors"] for r in usage["model"]),
             "tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in usage["model"])}
    charts = [
        ("spend-day", chart(usage["day"], "cost_usd", "Spend per day", "USD")),
        ("requests-day", chart(usage["day"], "requests", "Requests per day", "requests")),
        ("spend-key", chart(usage["key"], "cost_usd", "Spend per key", "USD")),
        ("spend-model", chart(usage["model"], "cost_usd", "Spend per model (as requested)",
                              "USD")),
        ("requests-served", chart(usage["served"], "requests", "Requests per model that "
                                  "answered (after fallbacks and routing)", "requests")),
    ]
    return {"usage": usage, "groups": GROUPS, "routes": view.route_usage(), "budgets": budget_rows(keys, usage["key"]),
            "total": total, "charts": charts,
            "models": sorted(m.name for m in view.served_models())}


def _optional_float(text: str, what: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a number", hint=f"write the {what} "
                          "in dollars, e.g. 5 or 0.25, or leave it empty") from None


def _optional_int(text: str, what: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a whole number",
                          hint=f"write the {what} as e.g. 60, or leave it empty") from None


@router.get("/gateway")
async def gateway_page(request: Request) -> Response:
    return render(request, "gateway.html.j2", page="gateway", title="Gateway", plotly=True,
                  created=None, error=None, **gateway_context(request.app.state.view))


@router.post("/gateway/keys")
async def create_key(request: Request) -> Response:
    from lmscape.ui.login import set_session

    form = await access.form_data(request)
    access.check_csrf(request, form)
    view = request.app.state.view
    was_open = request.state.viewer.open
    created, secret, error = None, None, None
    try:
        models = [m.strip() for m in form.get("models", "").split(",") if m.strip()] or None
        created, secret = view.create_key(
            form.get("name", ""), budget_usd=_optional_float(form.get("budget_usd", ""),
                                                             "budget"),
            rpm=_optional_int(form.get("rpm", ""), "requests per minute"), models=models,
            admin=bool(form.get("admin")))
    except LmscapeError as exc:
        error = exc
    signed_in = bool(created and was_open and created.admin)
    if signed_in:  # the first admin key made under open access signs this browser in
        request.state.viewer = access.Viewer(created.name, secret)
    response = render(request, "gateway.html.j2", page="gateway", title="Gateway", plotly=True,
                      created=created, secret=secret, error=error, signed_in=signed_in,
                      locked_out=bool(created and was_open and not created.admin),
                      status_code=400 if error else 200, **gateway_context(view))
    if signed_in:
        set_session(request, response, secret or "")
    return response


@router.post("/gateway/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    from starlette.responses import RedirectResponse

    access.check_csrf(request, await access.form_data(request))
    request.app.state.view.revoke_key(key_id)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/gateway#keys",
                            status_code=303)
