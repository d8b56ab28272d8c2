"""What the dashboard needs from the gateway, stated as a protocol.

The gateway (``lmscape.serve.dashboard``) implements it; the dashboard never imports
the gateway. Keys come back as objects with the attributes of the gateway's key
records (``id``, ``name``, ``prefix``, ``admin``, ``active``, ``budget_nusd``,
``spent_nusd``, ``rpm``, ``models``, ``created_at``, ``revoked_at``) and never carry a
secret: a secret exists only in the answer of :meth:`GatewayView.create_key`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lmscape.store.db import Store


@dataclass(frozen=True)
class ServedModel:
    """One model the gateway serves: its name, what it answers, its price."""

    name: str
    kinds: tuple[str, ...]
    input_per_mtok: float
    output_per_mtok: float
    local: bool
    backend: str
    usd_per_hour: float = 0.0  # billed by wall time (local models), else 0


class GatewayView(Protocol):
    store: Store

    def open_access(self) -> bool:
        """True while requests without a key are served (loopback, no active key)."""

    def key_for_secret(self, secret: str) -> Any | None:
        """The key whose secret this is (revoked or not), or None."""

    def list_keys(self) -> list[Any]:
        """Every key, oldest first (never the secrets)."""

    def create_key(self, name: str, *, budget_usd: float | None, rpm: int | None,
                   models: list[str] | None, admin: bool) -> tuple[Any, str]:
        """Create a key: its record and its secret (shown once, never stored)."""

    def revoke_key(self, ref: str) -> Any:
        """Revoke a key by id or name; return its record."""

    def usage(self) -> dict[str, list[dict[str, Any]]]:
        """For each of key, model, day and served: ``lmscape usage --by ... --json``'s rows."""

    def route_usage(self) -> list[dict[str, Any]]:
        """Per ``auto:`` policy or budget fallback: ``lmscape usage --by route --json``."""

    def served_models(self) -> list[ServedModel]:
        """The models the gateway serves, as ``/v1/models`` lists them."""
