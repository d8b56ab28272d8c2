"""The dashboard (``lmscape.ui``) mounted at ``/ui``, and the gateway's side of it.

:class:`GatewayDashboardView` answers what the pages ask of the gateway (keys, usage,
routes) with the functions ``lmscape keys`` and ``lmscape usage`` call, so the page
and the commands show the same figures.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lmscape.serve import keys as keystore
from lmscape.serve.gateway import Gateway
from lmscape.serve.routing_usage import summarize_routes
from lmscape.serve.usage import UsageRollup
from lmscape.ui import create_ui_app
from lmscape.ui.port import ServedModel


class GatewayDashboardView:
    """:class:`lmscape.ui.GatewayView` over one gateway."""

    def __init__(self, gateway: Gateway, *, allow_open: bool) -> None:
        self._gateway = gateway
        self._allow_open = allow_open
        self.store = gateway.store
        self._usage = UsageRollup(gateway.store)

    def open_access(self) -> bool:
        # not the authenticator's cached answer: a key made on the page closes access now
        return self._allow_open and keystore.count_active(self.store) == 0

    def key_for_secret(self, secret: str) -> Any | None:
        return keystore.find_by_secret(self.store, secret)

    def list_keys(self) -> list[Any]:
        return keystore.list_keys(self.store)

    def create_key(self, name: str, *, budget_usd: float | None, rpm: int | None,
                   models: list[str] | None, admin: bool) -> tuple[Any, str]:
        return keystore.create_key(self.store, name, budget_usd=budget_usd, rpm=rpm,
                                   models=models, admin=admin)

    def revoke_key(self, ref: str) -> Any:
        return keystore.revoke_key(self.store, ref)

    def usage(self) -> dict[str, list[dict[str, Any]]]:
        return dict(self._usage.get())

    def route_usage(self) -> list[dict[str, Any]]:
        return summarize_routes(self.store)

    def served_models(self) -> list[ServedModel]:
        models = []
        for r in self._gateway.routes.values():
            cost = r.cost
            models.append(ServedModel(
                name=r.name, kinds=tuple(r.kinds), input_per_mtok=r.input_per_mtok,
                output_per_mtok=r.output_per_mtok, local=r.is_local, backend=r.backend,
                usd_per_hour=cost.usd_per_hour if cost.runs_here else 0.0))
        return models


def mount_dashboard(app: FastAPI, gateway: Gateway, *, allow_open: bool) -> None:
    """Serve the dashboard at ``/ui`` (same access rule as the API, plus admin keys)."""
    app.mount("/ui", create_ui_app(GatewayDashboardView(gateway, allow_open=allow_open)))
