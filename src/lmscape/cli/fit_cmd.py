"""`lmscape fit ID`: memory for weights plus KV cache, and whether it fits this machine
or a named accelerator; when it does not, what would."""

from __future__ import annotations

import json

import typer

from lmscape.catalog.hardware import ACCELERATORS, DEFAULT_CONTEXT, HOST
from lmscape.cli.app import console
from lmscape.cli.models_cmd import CatalogOption

FIT_HELP = f"""Will a model fit? Memory for weights plus KV cache at a context length, checked
against this machine's available RAM or a named accelerator.

\b
GB = 10^9 bytes.
weights  = params x bytes/param  (fp32 4, fp16/bf16 2, int8/fp8 1,
           q4 0.5625 = 4 bits + one fp16 scale per 32 weights)
KV cache = 2 x layers x kv_heads x head_dim x context x batch x 2 B
           (4 B with fp32; 0 for encoders; Gemma 3 local layers keep only their window)
overhead = 10% of (weights + KV cache) + 0.5 GB
total    = weights + KV cache + overhead

\b
Accelerators (--gpu): {", ".join(ACCELERATORS)}.
Multi-GPU configs count their memory together (tensor parallel).
Without --gpu the target is this machine's available RAM (psutil).
On-demand prices per hour come from the catalog's hardware entries, with their source.
Details: docs/catalog.md."""


def _gb(n: float) -> str:
    gb = n / 1e9
    return f"{gb:,.3f} GB" if gb < 1 else f"{gb:,.2f} GB"


REFERENCE_GPU = "h100-80gb"


def _hosting(cat, name: str):
    """The catalog's priced hardware entry for ``name``, or None."""
    from lmscape.errors import NotFoundError

    try:
        hw = cat.hardware(name)
    except NotFoundError:
        return None
    return hw if hw.usd_per_hour is not None else None


def _price_text(hw) -> str:
    if hw is None:
        return ""
    return f"  ${hw.usd_per_hour:,.2f}/h {hw.price.provider}"


def fit(
    model_id: str = typer.Argument(..., metavar="ID", help="Model id or alias."),
    precision: str = typer.Option(
        "fp16", "--precision", "-p", help="fp32, fp16, bf16, int8, fp8 or q4."
    ),
    context: int = typer.Option(
        None,
        "--context",
        "-c",
        help=f"Context length in tokens (default: the model's window, at most {DEFAULT_CONTEXT:,}).",
    ),
    gpu: str = typer.Option(
        None, "--gpu", help="Accelerator: " + ", ".join(ACCELERATORS) + f" (default: {HOST})."
    ),
    batch: int = typer.Option(1, "--batch", "-b", help="Concurrent sequences."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    catalog: CatalogOption = None,
) -> None:
    from lmscape.catalog import load_catalog
    from lmscape.catalog.hardware import (
        estimate_memory,
        fits,
        get_target,
        precisions_that_fit,
        suggest,
    )

    cat = load_catalog(list(catalog or ()))
    entry = cat.get(model_id)
    target = get_target(gpu)
    est = estimate_memory(entry, precision, context, batch)
    ok = fits(est, target)
    options = suggest(entry, est.context, batch)
    here = precisions_that_fit(entry, target, est.context, batch)
    priced = {
        name: hw
        for name in dict.fromkeys([target.name, *(a.name for a, _ in options)])
        if (hw := _hosting(cat, name)) is not None
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "estimate": est.to_dict(),
                    "target": {
                        "name": target.name,
                        "count": target.count,
                        "memory_gb": target.memory_gb,
                        "total_gb": target.total_gb,
                    },
                    "fits": ok,
                    "precisions_that_fit_target": here,
                    "would_fit": [
                        {"target": a.name, "precision": p, "total_gb": a.total_gb}
                        for a, p in options
                    ],
                    "prices": {
                        name: {
                            "usd_per_hour": hw.usd_per_hour,
                            "usd_per_device_hour": hw.price.usd_per_device_hour,
                            "provider": hw.price.provider,
                            "offer": hw.price.offer,
                            "source": hw.price.source,
                            "as_of": str(hw.price.as_of),
                        }
                        for name, hw in priced.items()
                    },
                },
                indent=2,
            )
        )
        return

    console.print(
        f"[bold]{entry.id}[/] at {est.precision}, context {est.context:,} tokens, "
        f"batch {est.batch}  (GB = 10^9 bytes)"
    )
    console.print(est.formula, highlight=False)
    for note in est.notes:
        console.print(f"note: {note}", style="yellow")
    where = f"{target.label} ({_gb(target.total_bytes)})" + _price_text(priced.get(target.name))
    if gpu is None:
        # The usual first question beside "this machine": one data-centre GPU.
        ref = get_target(REFERENCE_GPU)
        verdict = "[green]fits[/]" if fits(est, ref) else "[red]does not fit[/]"
        console.print(f"{verdict} one {ref.label} ({_gb(ref.total_bytes)})")
    if ok:
        console.print(f"[green]fits[/] {where}: needs {_gb(est.total_bytes)}")
    else:
        console.print(f"[red]does not fit[/] {where}: needs {_gb(est.total_bytes)}")
        if here:
            console.print(f"on {target.name} it fits at: {', '.join(here)}")
        else:
            console.print(f"on {target.name} no precision fits (q4 is the smallest)")
        if options:
            console.print("would fit (smallest listed config per precision):")
            for acc, prec in options:
                console.print(
                    f"  {prec:5} -> {acc.name} ({_gb(acc.total_bytes)})"
                    + _price_text(priced.get(acc.name))
                )
        else:
            console.print("no listed accelerator config fits, even at q4")
    if priced:
        dates = ", ".join(sorted({str(hw.price.as_of) for hw in priced.values()}))
        console.print(
            f"$/h: on-demand list prices from the hardware catalog (as of {dates}); "
            "sources in docs/catalog.md, override them in $LMSCAPE_HOME/catalog.yaml",
            style="dim",
        )


def register(app: typer.Typer) -> None:
    app.command("fit", help=FIT_HELP)(fit)
