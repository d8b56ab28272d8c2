"""``lmscape report`` (re-render leaderboards from the store as HTML/CSV/JSON, paired
comparisons) and ``lmscape runs`` (list stored runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmscape.cli.app import console

FORMATS = ("html", "csv", "json")


def report(
    fmt: str = typer.Option("html", "--format", "-f", help="html, csv or json."),
    task: str = typer.Option(None, "--task", "-t", help="Only this task."),
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="File to write (default report.html; csv/json: stdout).")] = None,
    compare: tuple[str, str] | None = typer.Option(None, "--compare", metavar="SYSTEM_A SYSTEM_B",
                                            help="Paired significance test between two systems."),
    metric: str = typer.Option(None, "--metric", help="Per-item score for --compare."),
) -> None:
    """Re-render the report from stored runs (no model is run)."""
    from lmscape.errors import ConfigError
    from lmscape.store import open_store

    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}", hint="use --format html, csv or json")
    pair = compare if compare and compare[0] and compare[1] else None
    store = open_store()
    try:
        tasks = [task] if task else None
        comparisons = _comparisons(store, tasks, pair, metric) if pair else []
        if fmt == "html":
            from lmscape.cli.route_cmd import routing_sections
            from lmscape.decide.report_section import recommendation_sections
            from lmscape.report.html import write_report

            path = write_report(store, out or Path("report.html"), tasks, compare=pair,
                                extra_sections=recommendation_sections(store, tasks)
                                + routing_sections(tasks))
            console.print(f"report written to [bold]{path}[/]")
        else:
            from lmscape.report import export

            text = export.to_csv(store, tasks) if fmt == "csv" else export.to_json(
                store, tasks, comparisons)
            if out is None:
                typer.echo(text, nl=False)
            else:
                console.print(f"{fmt} written to [bold]{export.write_text(text, out)}[/]")
        if pair and (fmt == "html" or out is not None):  # stdout holds csv/json otherwise
            from lmscape.report.console import compare_table

            for result in comparisons:
                console.print(compare_table(result))
    finally:
        store.close()


def _comparisons(store, tasks, pair, metric) -> list[dict]:
    """Compare the pair on every given task (or every task where both were measured)."""
    from lmscape.bench.compare import compare_systems
    from lmscape.bench.results import latest_runs, tasks_with_runs
    from lmscape.errors import NotFoundError

    if tasks:
        return [compare_systems(store, name, pair[0], pair[1], metric=metric) for name in tasks]
    systems = {t: {r.system for r in latest_runs(store, t)} for t in tasks_with_runs(store)}
    names = [t for t, measured_here in systems.items() if set(pair) <= measured_here]
    if not names:
        measured = sorted(set().union(*systems.values()))
        missing = next((s for s in pair if s not in measured), pair[0])
        raise NotFoundError("measured system", missing, measured,
                            hint="both systems need finished runs on the same task; "
                                 "see `lmscape runs`")
    return [compare_systems(store, name, pair[0], pair[1], metric=metric) for name in names]


def runs(
    task: str = typer.Option(None, "--task", "-t", help="Only this task."),
    limit: int = typer.Option(50, "--limit", "-n", help="Show at most N runs."),
) -> None:
    """List stored benchmark runs, newest first."""
    from lmscape.bench.results import list_runs, stored_counts
    from lmscape.report.runs_table import runs_table
    from lmscape.store import open_store

    store = open_store()
    try:
        records = list_runs(store, task=task)[:limit]
        counts = stored_counts(store)
    finally:
        store.close()
    if not records:
        console.print("no runs stored yet; run `lmscape bench`")
        return
    console.print(runs_table(records, counts, console.width))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("runs")(runs)
