"""Gateway keys: create, list, revoke, look up.

A key is shown once, at creation: ``lms-<32 random url-safe chars>``. The store keeps
only its sha256 and a short prefix for display, so a leaked database does not leak
keys. Lookups hash the presented key and compare hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from lmscape.errors import ConfigError, NotFoundError
from lmscape.serve import revocation
from lmscape.serve.tables import gateway_keys, nano_to_usd, usd_to_nano
from lmscape.store import Store

KEY_PREFIX = "lms-"
PREFIX_SHOWN = 12  # "lms-" plus 8 characters


@dataclass(frozen=True)
class KeyInfo:
    """A key as the gateway sees it (never the secret itself)."""

    id: str
    name: str
    prefix: str
    budget_nusd: int | None
    spent_nusd: int
    rpm: int | None
    models: tuple[str, ...] | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    admin: bool = False  # may use the dashboard (/ui)
    on_budget_exhausted: str | None = None  # local model serving the key once spent

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def budget_usd(self) -> float | None:
        return None if self.budget_nusd is None else nano_to_usd(self.budget_nusd)

    @property
    def spent_usd(self) -> float:
        return nano_to_usd(self.spent_nusd)

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _row_to_info(row) -> KeyInfo:
    m = row._mapping
    return KeyInfo(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        budget_nusd=m["budget_nusd"],
        spent_nusd=m["spent_nusd"] or 0,
        rpm=m["rpm"],
        models=tuple(m["models"]) if m["models"] is not None else None,
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
        admin=bool(m.get("admin")),
        on_budget_exhausted=m.get("on_budget_exhausted"),
    )


def create_key(
    store: Store,
    name: str,
    *,
    budget_usd: float | None = None,
    rpm: int | None = None,
    models: list[str] | None = None,
    admin: bool = False,
    on_budget_exhausted: str | None = None,
) -> tuple[KeyInfo, str]:
    """Create a key; return its info and the secret (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise ConfigError("a key needs a name", hint="lmscape keys create --name NAME")
    if budget_usd is not None and budget_usd < 0:
        raise ConfigError(f"budget {budget_usd} is negative", hint="use --budget-usd 0 or more")
    if rpm is not None and rpm <= 0:
        raise ConfigError(f"rpm {rpm} must be positive", hint="use --rpm 1 or more, or omit it")
    if on_budget_exhausted is not None:
        on_budget_exhausted = check_local_fallback(on_budget_exhausted)
    secret = KEY_PREFIX + secrets.token_urlsafe(24)
    row = {
        "id": secrets.token_hex(8),
        "name": name,
        "key_hash": hash_key(secret),
        "prefix": secret[:PREFIX_SHOWN],
        "budget_nusd": None if budget_usd is None else usd_to_nano(budget_usd),
        "spent_nusd": 0,
        "rpm": rpm,
        "models": list(models) if models else None,
        "created_at": dt.datetime.now(dt.UTC),
        "revoked_at": None,
        "admin": bool(admin),
        "on_budget_exhausted": on_budget_exhausted,
    }
    with store.begin() as conn:
        exists = conn.execute(
            sa.select(gateway_keys.c.id).where(gateway_keys.c.name == name)
        ).first()
        if exists:
            raise ConfigError(
                f"a key named {name!r} already exists",
                hint="choose another --name (names stay taken after revocation)",
            )
        conn.execute(gateway_keys.insert().values(**row))
        revocation.notify(conn)  # running gateways stop open access at once
    return get_key(store, row["id"]), secret


def check_local_fallback(value: str) -> str:
    """``local:MODEL`` (or MODEL) naming a model that runs on this machine."""
    from lmscape.backends.resolve import resolve

    name = value.removeprefix("local:").strip()
    if not name:
        raise ConfigError("--on-budget-exhausted needs a model",
                          hint="e.g. --on-budget-exhausted local:smollm2-135m-instruct")
    if not resolve(name).is_local:
        raise ConfigError(f"{name} is not a local model, so it cannot serve a spent budget",
                          hint="name a local model, e.g. local:smollm2-135m-instruct")
    return f"local:{name}"


def list_keys(store: Store, *, include_revoked: bool = True) -> list[KeyInfo]:
    query = sa.select(gateway_keys).order_by(gateway_keys.c.created_at)
    if not include_revoked:
        query = query.where(gateway_keys.c.revoked_at.is_(None))
    with store.connect() as conn:
        return [_row_to_info(r) for r in conn.execute(query)]


def get_key(store: Store, key_id: str) -> KeyInfo:
    with store.connect() as conn:
        row = conn.execute(sa.select(gateway_keys).where(gateway_keys.c.id == key_id)).first()
    if row is None:
        raise NotFoundError("key", key_id, hint="run `lmscape keys list`")
    return _row_to_info(row)


def find_by_secret(store: Store, secret: str) -> KeyInfo | None:
    """The key whose secret is ``secret`` (revoked or not), or None."""
    with store.connect() as conn:
        row = conn.execute(
            sa.select(gateway_keys).where(gateway_keys.c.key_hash == hash_key(secret))
        ).first()
    return None if row is None else _row_to_info(row)


def count_active(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(gateway_keys).where(
                gateway_keys.c.revoked_at.is_(None)
            )
        ).scalar_one()


def resolve(store: Store, ref: str) -> KeyInfo:
    """A key by id, name or displayed prefix."""
    keys = list_keys(store)
    for key in keys:
        if ref in (key.id, key.name):
            return key
    matches = [k for k in keys if ref.startswith(KEY_PREFIX) and k.prefix.startswith(ref[:PREFIX_SHOWN])]
    if len(matches) == 1:
        return matches[0]
    raise NotFoundError(
        "key", ref, [k.name for k in keys], hint="run `lmscape keys list` for ids and names"
    )


def revoke_key(store: Store, ref: str) -> KeyInfo:
    """Revoke a key (by id, name or prefix). Revoking twice is harmless."""
    key = resolve(store, ref)
    if key.revoked_at is None:
        with store.begin() as conn:
            conn.execute(
                gateway_keys.update()
                .where(gateway_keys.c.id == key.id)
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
            revocation.notify(conn)  # running gateways drop the key from their caches
    return get_key(store, key.id)
