"""Costs and exact budgets, shared by every gateway worker through the database.

Budgets stay exact under concurrency, across processes, with two statements:

1. **reserve** before calling the model, atomically in the database::

       UPDATE gateway_keys SET spent_nusd = spent_nusd + :reserve
        WHERE id = :id AND revoked_at IS NULL
          AND (budget_nusd IS NULL OR spent_nusd + :reserve <= budget_nusd)

   ``:reserve`` is the request's *maximum* cost: an upper bound of its prompt tokens
   (UTF-8 bytes of the text plus a per-message allowance) times the input price, plus
   ``max_tokens`` (or ``limits.default_max_tokens``, which is then sent upstream) times
   the output price, for the priciest model in its fallback chain. If no row is
   updated the request gets 429 ``insufficient_quota``: spending it could cross the
   budget. The row lock of the UPDATE serialises concurrent reservations in
   PostgreSQL and SQLite alike, so the sum of reservations never exceeds the budget.

2. **settle** once the call is over, in the same transaction as the usage row::

       UPDATE gateway_keys SET spent_nusd = spent_nusd - :reserve + :actual WHERE id = :id

   so that, once no request is in flight, ``spent`` equals the sum of the key's usage
   rows exactly (money is integer nano-dollars).

Keys without a budget skip step 1; their spend is still added at settlement. The
settlement is written by the background usage writer (:mod:`lmscape.serve.usage`), so
no database write blocks a response; a reservation is the only write on the hot path,
and only for keys that have a budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lmscape.serve.config import Route
from lmscape.serve.tables import gateway_keys

MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators per chat message


def cost_nusd(route: Route, prompt_tokens: int, completion_tokens: int) -> int:
    """Cost in nano-dollars at ``route``'s prices (USD per million tokens)."""
    # USD/Mtok * tokens / 1e6 * 1e9 nUSD/USD = USD/Mtok * tokens * 1000
    return round(1000 * (route.input_per_mtok * prompt_tokens
                         + route.output_per_mtok * completion_tokens))


def prompt_token_bound(texts: Iterable[str], n_messages: int = 0) -> int:
    """An upper bound of the prompt tokens: a token is at least one UTF-8 byte."""
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return n_bytes + MESSAGE_OVERHEAD_TOKENS * (n_messages + 1)


def max_cost_nusd(chain: Iterable[Route], prompt_bound: int, completion_bound: int) -> int:
    """The most this request can cost on any model of its fallback chain (rounded up)."""
    worst = 0.0
    for route in chain:
        worst = max(worst, 1000 * (route.input_per_mtok * prompt_bound
                                   + route.output_per_mtok * completion_bound))
    return math.ceil(worst)


def reserve(engine: Engine, key_id: str, amount_nusd: int) -> bool:
    """Atomically add ``amount_nusd`` to the key's spend if it stays within budget."""
    k = gateway_keys.c
    stmt = (
        gateway_keys.update()
        .where(k.id == key_id)
        .where(k.revoked_at.is_(None))
        .where(sa.or_(k.budget_nusd.is_(None), k.spent_nusd + amount_nusd <= k.budget_nusd))
        .values(spent_nusd=k.spent_nusd + amount_nusd)
    )
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def settle(conn: sa.Connection, key_id: str, reserved_nusd: int, actual_nusd: int) -> None:
    """Replace a reservation by the actual cost (inside the usage-row transaction)."""
    delta = actual_nusd - reserved_nusd
    if delta == 0:
        return
    k = gateway_keys.c
    conn.execute(gateway_keys.update().where(k.id == key_id)
                 .values(spent_nusd=k.spent_nusd + delta))
