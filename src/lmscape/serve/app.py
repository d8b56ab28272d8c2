"""The FastAPI application factory for ``lmscape serve``.

``create_app()`` builds a gateway for one process; ``create_app_from_env()`` is the
factory uvicorn calls in each worker when ``--workers N`` is given (the CLI passes the
settings through ``LMSCAPE_SERVE_*`` environment variables).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from lmscape.errors import LmscapeError
from lmscape.serve import access_log
from lmscape.serve.config import GatewayConfig, Route, load_config, resolve_routes
from lmscape.serve.errors import GatewayError, from_lmscape, internal
from lmscape.serve.gateway import Gateway
from lmscape.serve.guard import Guard
from lmscape.serve.invalid import body_parse_error, request_error
from lmscape.store import Store, open_store

log = logging.getLogger("lmscape.serve")

ENV_CONFIG = "LMSCAPE_SERVE_CONFIG"
ENV_ALLOW_OPEN = "LMSCAPE_SERVE_ALLOW_OPEN"
ENV_WORKERS = "LMSCAPE_SERVE_WORKERS"


def _validation_error(exc: RequestValidationError) -> GatewayError:
    return request_error(exc.errors())


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway(_request: Request, exc: GatewayError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        return _validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        unreadable = body_parse_error(exc)
        if unreadable is not None:
            return unreadable.response()
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return GatewayError(exc.status_code, str(exc.detail), type=kind,
                            code="not_found" if exc.status_code == 404 else None,
                            headers=dict(exc.headers or {})).response()

    @app.exception_handler(LmscapeError)
    async def _lmscape(_request: Request, exc: LmscapeError) -> Response:
        return from_lmscape(exc).response()

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return internal(exc).response()


def create_app(
    config: GatewayConfig | None = None,
    *,
    store: Store | None = None,
    db_url: str | None = None,
    routes: dict[str, Route] | None = None,
    allow_open: bool = True,
    workers: int = 1,
) -> FastAPI:
    """A gateway app. ``allow_open``: serve without keys while the store has none."""
    access_log.install()
    config = config or GatewayConfig()
    store = store or open_store(db_url)
    routes = routes if routes is not None else resolve_routes(config)
    gateway = Gateway(config, store, routes, allow_open=allow_open, workers=workers)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        access_log.install()  # again: the server configured its loggers after create_app
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = FastAPI(
        title="lmscape gateway",
        version="0.1.0",
        summary="OpenAI-compatible endpoint for closed, open-weight and small language models",
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    _install_handlers(app)
    app.add_middleware(Guard, gateway=gateway,
                       max_body_bytes=int(config.limits.max_body_mb * 2**20))
    from lmscape.serve import routes_chat, routes_embeddings, routes_models, routes_tokenizer

    for module in (routes_models, routes_chat, routes_embeddings, routes_tokenizer):
        app.include_router(module.router)
    from lmscape.serve.dashboard import mount_dashboard

    mount_dashboard(app, gateway, allow_open=allow_open)
    return app


def settings_to_env(config_path: str | None, allow_open: bool, workers: int) -> dict[str, Any]:
    """Environment that :func:`create_app_from_env` reads in each worker."""
    env = {ENV_ALLOW_OPEN: "1" if allow_open else "0", ENV_WORKERS: str(workers)}
    if config_path:
        env[ENV_CONFIG] = str(config_path)
    return env


def create_app_from_env() -> FastAPI:
    """uvicorn factory (``lmscape.serve.app:create_app_from_env``) for worker processes."""
    return create_app(
        load_config(os.environ.get(ENV_CONFIG) or None),
        allow_open=os.environ.get(ENV_ALLOW_OPEN, "0") == "1",
        workers=int(os.environ.get(ENV_WORKERS, "1")),
    )
