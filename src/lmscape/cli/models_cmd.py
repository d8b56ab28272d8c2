"""`lmscape models` (the catalog as a table, with filters) and `lmscape models show ID`
(every fact with its source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lmscape.backends.resolve import runs_offline
from lmscape.cli.app import console

CATALOG_HELP = (
    "Extra catalog YAML file (repeatable); extends or overrides the built-in catalog "
    "and $LMSCAPE_HOME/catalog.yaml."
)


CatalogOption = Annotated[list[Path] | None, typer.Option("--catalog", help=CATALOG_HELP)]


def _catalog(files: list[Path] | None):
    from lmscape.catalog import load_catalog

    return load_catalog(list(files or ()))


def _price(entry) -> str:
    if entry.price is None:
        return "— †" if entry.retired else "—"
    text = f"${entry.price.input_per_mtok:g}/${entry.price.output_per_mtok:g}"
    return text + (" †" if entry.retired else "")


def _width(columns, entries) -> int:
    """Characters the table needs: the widest cell of each column plus one space each."""
    return sum(
        max([len(header), *(len(cell(e)) for e in entries)]) + 1 for header, _, cell in columns
    )


def _short(text: str) -> str:
    """Drop a trailing parenthesis for the table: "proprietary (OpenAI API terms)"."""
    return text.split(" (")[0]


def _entry_json(entry) -> dict:
    data = entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["runs_offline"] = runs_offline(entry)
    data["origin"] = entry.origin
    return data


def list_models(
    ctx: typer.Context,
    access: str = typer.Option(None, "--access", help="closed or open-weight."),
    max_params: str = typer.Option(
        None,
        "--max-params",
        help="Largest parameter count, e.g. 1B, 500M, 7e9 (models "
        "that publish no count are left out).",
    ),
    offline_only: bool = typer.Option(
        False, "--runs-offline", help="Only models whose weights are on this machine."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    catalog: CatalogOption = None,
) -> None:
    """List catalog models: id, developer, access, size, params, licence, context, price."""
    ctx.obj = {"catalog": catalog}
    if ctx.invoked_subcommand is not None:
        return
    from lmscape.catalog import format_count, parse_count
    from lmscape.errors import ConfigError

    if access is not None and access not in ("closed", "open-weight"):
        raise ConfigError(
            f"--access must be closed or open-weight, not {access!r}",
            hint="use --access closed or --access open-weight",
        )
    cat = _catalog(catalog)
    entries = cat.filter(
        access=access,
        max_params=parse_count(max_params) if max_params is not None else None,
    )
    if offline_only:
        entries = [e for e in entries if runs_offline(e)]
    if as_json:
        typer.echo(json.dumps([_entry_json(e) for e in entries], indent=2))
        return
    from rich.table import Table

    table = Table(
        title=f"{len(entries)} of {len(cat)} models",
        title_justify="left",
        box=None,
        padding=(0, 1),
        pad_edge=False,
        collapse_padding=True,
    )
    columns = [
        ("id", "left", lambda e: e.id),
        ("developer", "left", lambda e: _short(e.developer)),
        ("access", "left", lambda e: e.access),
        ("size", "left", lambda e: e.size_class),
        ("params", "right", lambda e: format_count(e.params)),
        ("licence", "left", lambda e: _short(e.licence)),
        ("context", "right", lambda e: f"{e.context_window:,}" if e.context_window else "—"),
        ("$/1M in/out", "right", _price),
        ("offline", "center", lambda e: "yes" if runs_offline(e) else "no"),
    ]
    wide = _width(columns, entries) <= console.width
    if not wide:
        columns = [c for c in columns if c[0] not in ("developer", "licence")]
    for header, justify, _ in columns:
        table.add_column(header, justify=justify, no_wrap=True)
    for e in entries:
        table.add_row(*(cell(e) for _, _, cell in columns))
    console.print(table)
    console.print(
        "List prices in USD per 1M input/output tokens; † retired (its last price). Every "
        "figure has a source: `lmscape models show ID`."
        + ("" if wide else " Developer and licence need a wider terminal (or --json)."),
        style="dim",
    )


def show(
    ctx: typer.Context,
    model_id: str = typer.Argument(..., metavar="ID", help="Model id or alias."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    catalog: CatalogOption = None,
) -> None:
    """Every fact about one model, each with its source and date."""
    parent = (ctx.obj or {}).get("catalog") or []
    entry = _catalog([*parent, *(catalog or [])]).get(model_id)
    if as_json:
        typer.echo(json.dumps(_entry_json(entry), indent=2))
        return
    _render_entry(entry)


def _fact_rows(entry) -> list[tuple[str, str, str, str]]:
    """(fact, value, source, as_of) for every sourced fact of ``entry``."""
    from lmscape.catalog import format_count

    rows: list[tuple[str, str, str, str]] = []

    def add(name, value, src, as_of, note=None):
        text = str(value) + (f"  ({note})" if note else "")
        rows.append((name, text, src or "—", str(as_of) if as_of else "—"))

    if entry.params_fact:
        f = entry.params_fact
        add("parameters", f"{f.value:,} ({format_count(f.value)})", f.source, f.as_of, f.note)
    if entry.context_fact:
        f = entry.context_fact
        add("context window", f"{f.value:,} tokens", f.source, f.as_of, f.note)
    if entry.released:
        add("released", entry.released.value, entry.released.source, entry.released.as_of)
    if entry.retired:
        add("retired", entry.retired, entry.retired_source, None)
    if entry.price:
        p = entry.price
        add(
            "price in / out",
            f"${p.input_per_mtok:g} / ${p.output_per_mtok:g} per 1M tokens",
            p.source,
            p.as_of,
            p.note,
        )
    if entry.arch:
        a = entry.arch
        parts = [
            f"{a.kind}",
            f"{a.layers} layers",
            f"hidden {a.hidden_size}",
            f"{a.attention_heads} heads",
            f"{a.effective_kv_heads} KV heads",
            f"head dim {a.effective_head_dim}",
        ]
        if a.vocab_size:
            parts.append(f"vocab {a.vocab_size:,}")
        if a.sliding_window:
            parts.append(f"sliding window {a.sliding_window} ({a.global_layers} global layers)")
        add("architecture", ", ".join(parts), a.source, a.as_of)
    for s in entry.scores:
        split = f", {s.split}" if s.split else ""
        add(
            f"score: {s.benchmark}",
            f"{s.value:g} {s.metric} ({s.setting}{split})",
            s.source,
            s.as_of,
            s.note,
        )
    return rows


def _lineage_rows(lineage) -> list[tuple[str, str]]:
    """What a distilled or exported model came from, and what was measured on it."""
    data = lineage.data or {}
    rows = [("made", (f"{lineage.kind} ({lineage.strategy}) from {lineage.base} on "
                     f"{lineage.task}, {lineage.created:%Y-%m-%d %H:%M} UTC"))]
    if lineage.teacher:
        rows.append(("teacher", lineage.teacher))
    if data:
        rows.append(("data", (f"trained on {data.get('unlabelled') or data.get('train')} "
                             f"({data.get('n_train')} texts), held out: {data.get('heldout')} "
                             f"({data.get('n_heldout')})")))
    for row in (lineage.metrics or {}).get("heldout") or []:
        quality = row.get("quality")
        agreement = row.get("agreement")
        text = str(row.get("system"))
        if quality is not None:
            text += f": quality {quality:.3f}"
        if agreement is not None:
            text += f", agreement {agreement:.3f}"
        if row.get("items_per_s"):
            text += f", {row['items_per_s']:.1f} items/s"
        rows.append((f"held-out {row.get('role')}", text))
    check = (lineage.metrics or {}).get("check")
    if check:
        rows.append(("export check", (f"{check['n']} real inputs: label agreement "
                                     f"{check['agreement']:.4f}, largest probability "
                                     f"difference {check['max_prob_diff']:.4f}")))
    return rows


def _render_entry(entry) -> None:
    from rich.table import Table

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row(
        "id", entry.id + (f"  (aliases: {', '.join(entry.aliases)})" if entry.aliases else "")
    )
    for label, value in (
        ("name", entry.name),
        ("developer", entry.developer),
        ("access", entry.access),
        ("size class", entry.size_class),
        ("licence", entry.licence),
        ("architecture", entry.architecture),
        ("card", entry.card),
        ("runs offline here", "yes" if runs_offline(entry) else "no"),
        ("catalog file", entry.origin),
    ):
        if value:
            head.add_row(label, str(value))
    for i, spec in enumerate([s for s in [entry.run, *entry.also_runs] if s]):
        opts = " ".join(f"{k}={v}" for k, v in spec.options.items())
        text = f"{spec.backend}  {spec.model}" + (f"  {opts}" if opts else "")
        if spec.note:
            text += f"  ({spec.note})"
        head.add_row("run" if i == 0 and entry.run else "also runs", text)
    if entry.run is None:
        head.add_row("run", "no way to run it is recorded")
    if entry.notes:
        head.add_row("notes", entry.notes)
    if entry.lineage is not None:
        for label, value in _lineage_rows(entry.lineage):
            head.add_row(label, value)
    console.print(head)
    facts = Table(title="facts", title_justify="left")
    for col in ("fact", "value", "source", "as of"):
        facts.add_column(col, overflow="fold")
    for row in _fact_rows(entry):
        facts.add_row(*row)
    console.print(facts)


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        help="The cited model catalog.", no_args_is_help=False, add_completion=False
    )
    models_app.callback(invoke_without_command=True)(list_models)
    models_app.command("show")(show)
    app.add_typer(models_app, name="models")
