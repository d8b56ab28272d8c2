"""`lmscape serve`: the OpenAI-compatible gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmscape.backends.connection import is_loopback_host
from lmscape.cli.app import console, err_console


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    config: Annotated[Path | None, typer.Option(
        "--config", help="Gateway YAML: models, fallbacks, limits (format below).",
        exists=True, dir_okay=False,
    )] = None,
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (share the DB)."),
    require_key: bool = typer.Option(
        False, "--require-key", help="Refuse requests without a gateway key, even on loopback."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request line."),
    tokenizer_model: str | None = typer.Option(
        None, "--tokenizer-model",
        help="Model whose tokenizer /tokenize, /detokenize and /tokenizer_info use when a "
        "request names none (lm-evaluation-harness's tokenizer_backend=remote).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve every catalog model behind one OpenAI-compatible endpoint (/v1/...)."""
    import uvicorn

    from lmscape.errors import ConfigError
    from lmscape.serve import keys as keystore
    from lmscape.serve.app import create_app, settings_to_env
    from lmscape.serve.config import load_config, resolve_routes
    from lmscape.store import open_store

    gateway_config = load_config(config)
    if tokenizer_model is not None:
        if workers > 1:
            raise ConfigError("--tokenizer-model applies to one worker",
                              hint="with --workers, set tokenizer_model: in the --config file")
        gateway_config = gateway_config.model_copy(update={"tokenizer_model": tokenizer_model})
    routes = resolve_routes(gateway_config)
    store = open_store()
    n_keys = keystore.count_active(store)
    loopback = is_loopback_host(host)
    if n_keys == 0 and not loopback:
        raise ConfigError(
            f"refusing to serve on {host} with no gateway keys",
            hint="create one with `lmscape keys create --name NAME`, or use --host 127.0.0.1",
        )
    allow_open = loopback and not require_key
    console.print(f"lmscape gateway on http://{host}:{port}/v1  ({workers} worker(s), "
                  f"database {store.url})", highlight=False)
    console.print("models: " + ", ".join(routes), highlight=False, soft_wrap=True)
    console.print(f"dashboard: http://{host}:{port}/ui", highlight=False)
    if n_keys == 0 and allow_open:
        err_console.print(
            "[yellow]no gateway keys exist: unauthenticated access is allowed on loopback[/] "
            "(create one with `lmscape keys create --name NAME`, or pass --require-key)"
        )
    elif n_keys == 0:
        err_console.print("[yellow]--require-key with no keys: every request will get 401[/] "
                          "(create one with `lmscape keys create --name NAME`)")
    else:
        console.print(f"{n_keys} active gateway key(s); requests need 'Authorization: Bearer lms-...'")
    common = {"host": host, "port": port, "log_level": log_level, "access_log": access_log,
              "timeout_graceful_shutdown": 10}
    if workers == 1:
        app = create_app(gateway_config, store=store, routes=routes, allow_open=allow_open)
        uvicorn.run(app, **common)
        return
    import os

    store.close()
    os.environ.update(settings_to_env(str(config) if config else None, allow_open, workers))
    uvicorn.run("lmscape.serve.app:create_app_from_env", factory=True, workers=workers, **common)


CONFIG_EPILOG = (  # rich markup: "\\[" is a literal bracket
    "Gateway config (YAML), every key optional:\n\n"
    "models: \\[{name: fast, backend: openai, model: gpt-4o-mini, options: {base_url: URL, "
    "api_key_env: VAR}, price: {input_per_mtok: 0.15, output_per_mtok: 0.6}}, "
    "{name: claude, catalog: claude-3.5-sonnet}]\n\n"
    "fallbacks: {fast: \\[claude, smollm2-135m-instruct]}\n\n"
    "limits: {memory_budget_mb: 4096, local_concurrency: 1, queue_size: 64, retries: 2, "
    "request_timeout_s: 120, default_max_tokens: 1024, key_cache_ttl_s: 5}\n\n"
    "include_embedded: true, include_catalog: true"
)


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=CONFIG_EPILOG)(serve)
