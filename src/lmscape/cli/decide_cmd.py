"""``lmscape recommend`` (a ranked, explained choice from stored results) and
``lmscape breakeven`` (pay per call or host: monthly cost and crossing volumes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lmscape.cli.app import console
from lmscape.cli.models_cmd import CatalogOption

RECOMMEND_HELP = """Rank systems for a task under hard constraints and weighted priorities,
with one line of reasons per system, the excluded ones and why, and the smallest change
that would change the answer. Reads stored bench results and the catalog; runs nothing.

\b
Evidence: measured (run here) > reported (published score) > unknown quality.
Priorities: quality, cost, latency, privacy, carbon (e.g. quality=3,cost=2,latency=1).
Licences: --licence permissive keeps Apache/MIT/BSD; --licence commercial also the
GPL family, closed APIs' terms and conditional licences (Llama, Gemma, Qwen);
research and unstated licences are excluded by both.
Volume: N/hour, N/day or N/month; local systems are then priced as reserved
machines (the catalog's cpu entry), APIs per call."""

BREAKEVEN_HELP = """Monthly cost of calling each API (measured tokens per item x list price)
against hosting each model on reserved machines (hourly price from the catalog's
hardware entries / measured or reported throughput), and the volume at which each
pair crosses. Override hardware prices in $LMSCAPE_HOME/catalog.yaml or --catalog."""


def _catalog(files: list[Path] | None):
    if not files:
        return None
    from lmscape.catalog import load_catalog

    return load_catalog(list(files))


def recommend(
    task: str = typer.Option(None, "--task", "-t", help="Task (see `lmscape tasks`)."),
    run: str = typer.Option(None, "--run", help="A finished run id (or prefix): its task "
                                                "and dataset."),
    max_usd_per_1k: str = typer.Option(None, "--max-usd-per-1k",
                                       help="USD per 1,000 items (at --volume when given), "
                                            "e.g. 0.01."),
    max_latency_ms: str = typer.Option(None, "--max-latency-ms",
                                       help="p95 latency per item in ms, e.g. 500."),
    min_quality: str = typer.Option(None, "--min-quality",
                                    help="On the task metric's scale, e.g. 0.85."),
    hardware: str = typer.Option(None, "--hardware",
                                 help="What local systems must fit: a `lmscape fit` name "
                                      "(h100-80gb, 8x-h100, ...) or cpu."),
    data_must_stay_local: bool = typer.Option(False, "--data-must-stay-local",
                                              help="Remove every remote model."),
    licence: str = typer.Option(None, "--licence", help="commercial or permissive."),
    offline: bool = typer.Option(False, "--offline",
                                 help="Only systems that run here with no network."),
    priority: str = typer.Option(None, "--priority", "-p",
                                 help="Weights, e.g. quality=3,cost=2,latency=1,privacy=1,"
                                      "carbon=1 (default quality=1,cost=1)."),
    volume: str = typer.Option(None, "--volume", help="e.g. 50000/day (also /hour, /month)."),
    limit: int = typer.Option(10, "--limit", "-n", help="Rows to print (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: ranked, excluded, "
                                                       "sensitivity."),
    catalog: CatalogOption = None,
) -> None:
    from lmscape.decide.recommendation import recommend as run_recommend
    from lmscape.decide.tables import recommendation_view

    rec = run_recommend(
        task, run=run, priority=priority, volume=volume, max_usd_per_1k=max_usd_per_1k,
        max_latency_ms=max_latency_ms, min_quality=min_quality, hardware=hardware,
        data_must_stay_local=data_must_stay_local, licence=licence, offline=offline,
        catalog=_catalog(catalog))
    if as_json:
        typer.echo(json.dumps(rec.as_dict(), indent=2))
        return
    for part in recommendation_view(rec, limit=limit or None):
        console.print(part)


def breakeven(
    task: str = typer.Option(None, "--task", "-t", help="Task (see `lmscape tasks`)."),
    run: str = typer.Option(None, "--run", help="A finished run id (or prefix)."),
    volume: str = typer.Option("1000..100000000/month", "--volume",
                               help="LOW..HIGH/PERIOD, e.g. 1000..10000000/month."),
    host: Annotated[list[str] | None, typer.Option(
        "--host", help="Also price MODEL@HARDWARE, e.g. llama-3.1-70b@4x-h100 (repeatable).")]
    = None,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    catalog: CatalogOption = None,
) -> None:
    from lmscape.decide.crossover import breakeven as run_breakeven
    from lmscape.decide.tables import breakeven_view

    be = run_breakeven(task, run=run, volume=volume, hosts=host or (),
                       catalog=_catalog(catalog))
    if as_json:
        typer.echo(json.dumps(be.as_dict(), indent=2))
        return
    for part in breakeven_view(be):
        console.print(part)


def register(app: typer.Typer) -> None:
    app.command("recommend", help=RECOMMEND_HELP)(recommend)
    app.command("breakeven", help=BREAKEVEN_HELP)(breakeven)
