"""``/ui/catalog``: every catalog model with its cited facts (source and date inline),
filters; ``/ui/catalog/ID``: one model's facts and the fit calculator (``lmscape fit``:
hardware, precision and context in, memory breakdown and verdict out).

Run recipes are shown by backend and model; option values that could be secrets are
never shown (only ``*_env`` variable names and plain settings).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lmscape.catalog.hardware import ACCELERATORS, HOST, PRECISION_BYTES
from lmscape.errors import LmscapeError
from lmscape.ui.rendering import render

router = APIRouter()
SECRET_WORDS = ("key", "token", "secret", "password")


def _catalog():
    from lmscape.catalog import load_catalog

    return load_catalog()


def safe_options(options: dict[str, Any]) -> dict[str, str]:
    """Recipe options fit to show: ``*_env`` names and settings, never a secret value."""
    out = {}
    for k, v in options.items():
        hidden = any(w in k.lower() for w in SECRET_WORDS) and not k.endswith("_env")
        out[k] = "(hidden)" if hidden else str(v)
    return out


def _count(text: str | None) -> int | None:
    from lmscape.catalog import parse_count

    return parse_count(text) if text and text.strip() else None


def filter_entries(cat, *, access: str, size: str, developer: str, q: str,
                   max_params: str, priced: bool) -> list[Any]:
    entries = cat.filter(access=access or None, size_class=size or None,
                         max_params=_count(max_params))
    if developer:
        entries = [e for e in entries if e.developer == developer]
    if q:
        needle = q.strip().lower()
        entries = [e for e in entries if needle in e.id or needle in e.name.lower()
                   or any(needle in a for a in e.aliases)]
    if priced:
        entries = [e for e in entries if e.price is not None]
    return entries


@router.get("/catalog")
async def catalog_page(request: Request, access: str = "", size: str = "", developer: str = "",
                       q: str = "", max_params: str = "", priced: str = "") -> Response:
    from lmscape.catalog import format_count

    cat = _catalog()
    entries = filter_entries(cat, access=access, size=size, developer=developer, q=q,
                             max_params=max_params, priced=bool(priced))
    template = ("_catalog_table.html.j2" if request.headers.get("hx-target") == "catalog-table"
                else "catalog.html.j2")
    return render(request, template, page="catalog", title="Catalog", entries=entries,
                  total=len(cat), format_count=format_count,
                  developers=sorted({e.developer for e in cat}),
                  f={"access": access, "size": size, "developer": developer, "q": q,
                     "max_params": max_params, "priced": bool(priced)})


@router.get("/catalog/{model_id}")
async def model_page(request: Request, model_id: str) -> Response:
    from lmscape.catalog import format_count

    entry = _catalog().get(model_id)
    return render(request, "model.html.j2", page="catalog", title=entry.name, e=entry,
                  format_count=format_count, safe_options=safe_options,
                  accelerators=ACCELERATORS, host=HOST, precisions=list(PRECISION_BYTES),
                  default_context=_default_context(entry))


def _default_context(entry) -> int:
    from lmscape.catalog.hardware import DEFAULT_CONTEXT

    return min(entry.context_window, DEFAULT_CONTEXT) if entry.context_window else DEFAULT_CONTEXT


def fit_context(entry, hardware: str, precision: str, context: int | None,
                batch: int) -> dict[str, Any]:
    """What ``lmscape fit ID --gpu HARDWARE -p PRECISION -c CONTEXT -b BATCH`` prints."""
    from lmscape.catalog.hardware import (
        estimate_memory,
        fits,
        get_target,
        precisions_that_fit,
        suggest,
    )

    cat = _catalog()
    target = get_target(None if hardware in ("", HOST) else hardware)
    est = estimate_memory(entry, precision, context, batch)
    options = suggest(entry, est.context, batch)
    prices = {}
    for name in dict.fromkeys([target.name, *(a.name for a, _ in options)]):
        try:
            hw = cat.hardware(name)
        except LmscapeError:
            continue
        if hw.usd_per_hour is not None:
            prices[name] = hw
    return {"est": est, "target": target, "fits": fits(est, target),
            "here": precisions_that_fit(entry, target, est.context, batch),
            "options": options, "prices": prices}


@router.get("/catalog/{model_id}/fit")
async def fit(request: Request, model_id: str, hardware: str = HOST, precision: str = "fp16",
              context: str = "", batch: str = "1") -> Response:
    entry = _catalog().get(model_id)
    try:
        ctx = fit_context(entry, hardware, precision,
                          int(context) if context.strip() else None, int(batch or 1))
        error = None
    except ValueError:
        ctx, error = {}, "Context and batch must be whole numbers."
    except LmscapeError as exc:
        ctx, error = {}, str(exc) + (f" ({exc.hint})" if getattr(exc, "hint", None) else "")
    return render(request, "_fit.html.j2", e=entry, error=error, **ctx)
