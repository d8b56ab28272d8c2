"""`lmscape keys create|list|revoke` and `lmscape usage`: gateway access and accounting."""

from __future__ import annotations

import json

import typer

from lmscape.cli.app import console


def _store():
    from lmscape.store import open_store

    return open_store()


def _key_json(key) -> dict:
    return {
        "id": key.id, "name": key.name, "prefix": key.prefix,
        "budget_usd": key.budget_usd, "spent_usd": key.spent_usd, "rpm": key.rpm,
        "models": list(key.models) if key.models is not None else None,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "admin": key.admin,
        "on_budget_exhausted": key.on_budget_exhausted,
    }


def create(
    name: str = typer.Option(..., "--name", help="A unique name for the key."),
    budget_usd: float | None = typer.Option(None, "--budget-usd", help="Spending cap in USD."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute."),
    models: str | None = typer.Option(None, "--models", help="Allowed models, comma-separated."),
    admin: bool = typer.Option(False, "--admin", help="May also use the dashboard at /ui."),
    on_budget_exhausted: str | None = typer.Option(
        None, "--on-budget-exhausted",
        help="local:MODEL serves the key once its budget is spent (instead of 429)."),
) -> None:
    """Create a gateway key. The secret is printed once and never stored."""
    from lmscape.serve.keys import create_key

    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    key, secret = create_key(_store(), name, budget_usd=budget_usd, rpm=rpm, models=allowed,
                              admin=admin, on_budget_exhausted=on_budget_exhausted)
    console.print(f"created {'admin ' if key.admin else ''}key {key.name!r} (id {key.id})",
                  highlight=False)
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("[dim]store it now: only its hash is kept[/]")


def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List gateway keys with budgets, spend and limits (never the secrets)."""
    from rich.table import Table

    from lmscape.serve.keys import list_keys

    keys = list_keys(_store())
    if as_json:
        console.print_json(json.dumps([_key_json(k) for k in keys]))
        return
    table = Table("id", "name", "prefix", "budget $", "spent $", "rpm", "models", "status")
    for k in keys:
        table.add_row(
            k.id, k.name, k.prefix + "…",
            "—" if k.budget_usd is None else f"{k.budget_usd:.4f}", f"{k.spent_usd:.6f}",
            "—" if k.rpm is None else str(k.rpm),
            "all" if k.models is None else ",".join(k.models),
            ("revoked" if k.revoked_at else "active") + (", admin" if k.admin else ""),
        )
    console.print(table)


def revoke(ref: str = typer.Argument(..., help="Key id, name or displayed prefix.")) -> None:
    """Revoke a key; requests with it get 401 from then on (SQLite: from the next request;
    PostgreSQL: as soon as each gateway hears of it, within milliseconds)."""
    from lmscape.serve.keys import revoke_key

    key = revoke_key(_store(), ref)
    console.print(f"revoked key {key.name!r} (id {key.id})", highlight=False)


def usage(
    by: str = typer.Option("model", "--by", help="Group by key, model (as requested), day, "
                         "served (the model that answered, after fallbacks) or route "
                         "(each auto: policy's member shares and saving)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Gateway usage: requests, tokens, cost and latency, grouped (--by route: each
    routing policy's member shares and the money saved against its largest member)."""
    from rich.table import Table

    from lmscape.serve.usage import summarize

    if by == "route":
        _usage_by_route(as_json)
        return

    rows = summarize(_store(), by)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(by, "requests", "prompt tok", "completion tok", "cost $", "mean ms", "errors")
    for r in rows:
        table.add_row(str(r["group"]), str(r["requests"]), str(r["prompt_tokens"]),
                      str(r["completion_tokens"]), f"{r['cost_usd']:.6f}",
                      f"{r['mean_latency_ms']:.1f}", str(r["errors"]))
    console.print(table)


def _usage_by_route(as_json: bool) -> None:
    from rich.table import Table

    from lmscape.serve.routing_usage import summarize_routes

    rows = summarize_routes(_store())
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no routed requests yet (serve a policy as auto:NAME)")
        return
    table = Table("route", "requests", "answered by", "billed $", "cost $",
                  "always largest $", "saved")

    def usd(v: float | None) -> str:
        return "—" if v is None else f"{v:.6f}"

    for r in rows:
        shares = "\n".join(f"{s:.0%} {m}" for m, s in r["shares"].items())
        saved = ("—" if r["saved_usd"] is None else
                 f"{usd(r['saved_usd'])} ({r['saved_share']:.0%})")
        table.add_row(r["group"], str(r["requests"]), shares, usd(r["billed_usd"]),
                      usd(r["cost_usd"]), usd(r["always_largest_usd"]), saved)
    console.print(table)
    console.print("[dim]cost: each request at its members' calibrated cost per item; "
                  "saved: against always the largest member[/]")


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Gateway keys: create, list, revoke.", no_args_is_help=True,
                           add_completion=False)
    keys_app.command("create")(create)
    keys_app.command("list")(list_)
    keys_app.command("revoke")(revoke)
    app.add_typer(keys_app, name="keys")
    app.command("usage")(usage)
