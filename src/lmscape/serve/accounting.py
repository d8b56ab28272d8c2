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
settlement is written by the background usage writer (:mod:`lmscape.serve.usage`). When
a key is near its budget (the reservation's ``RETURNING`` says fewer than
:data:`SETTLE_MARGIN` more of its size fit) the response waits for it (the writer is
woken at once and commits the row and the settlement together), so a client that sends
its requests one after another always finds the previous one settled: every request
that fits the budget is served. Further from the budget, and for keys without one,
responses never wait on the database.

**What a request costs** is the rule ``lmscape bench`` uses
(:class:`lmscape.bench.cost.CostModel`): tokens x the model's list price for remote
models; for models that run on this machine (local backends, and servers on loopback
without a list price) the wall time of the request x ``LMSCAPE_HARDWARE_USD_PER_HOUR``.
Wall time runs from when the gateway hands the request to the model (its queue wait
included) until the response is complete, and is billed for at most
``limits.request_timeout_s``, the bound its reservation holds; so a budget binds local
compute too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lmscape.bench.cost import local_cost_usd
from lmscape.serve.config import Route
from lmscape.serve.tables import NANO, gateway_keys

MESSAGE_OVERHEAD_TOKENS = 8  # role markers and separators per chat message
SETTLE_MARGIN = 8  # reservations left under which a response waits for its settlement


def cost_nusd(route: Route, prompt_tokens: int, completion_tokens: int, *,
              wall_s: float = 0.0, max_wall_s: float | None = None) -> int:
    """Cost in nano-dollars: tokens at ``route``'s prices (USD per million tokens), or,
    for a model that runs here, ``wall_s`` (at most ``max_wall_s``) at the hardware rate."""
    model = route.cost
    if model.runs_here:
        wall = wall_s if max_wall_s is None else min(wall_s, max_wall_s)
        return round(NANO * local_cost_usd(wall, model.usd_per_hour))
    # USD/Mtok * tokens / 1e6 * 1e9 nUSD/USD = USD/Mtok * tokens * 1000
    return round(1000 * (route.input_per_mtok * prompt_tokens
                         + route.output_per_mtok * completion_tokens))


def prompt_token_bound(texts: Iterable[str], n_messages: int = 0) -> int:
    """An upper bound of the prompt tokens: a token is at least one UTF-8 byte."""
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return n_bytes + MESSAGE_OVERHEAD_TOKENS * (n_messages + 1)


def max_cost_nusd(chain: Iterable[Route], prompt_bound: int, completion_bound: int, *,
                  max_wall_s: float = 0.0) -> int:
    """The most this request can cost on any model of its fallback chain (rounded up);
    a model that runs here costs at most ``max_wall_s`` of hardware time."""
    worst = 0.0
    for route in chain:
        model = route.cost
        if model.runs_here:
            worst = max(worst, NANO * local_cost_usd(max_wall_s, model.usd_per_hour))
        else:
            worst = max(worst, 1000 * (route.input_per_mtok * prompt_bound
                                       + route.output_per_mtok * completion_bound))
    return math.ceil(worst)


def reserve(engine: Engine, key_id: str, amount_nusd: int) -> bool:
    """Atomically add ``amount_nusd`` to the key's spend if it stays within budget."""
    return reserve_left(engine, key_id, amount_nusd) is not None


def reserve_left(engine: Engine, key_id: str, amount_nusd: int) -> int | None:
    """:func:`reserve`; the budget left after it (None: refused; a huge number for a
    key without a budget), in the same statement (``RETURNING``)."""
    k = gateway_keys.c
    stmt = (
        gateway_keys.update()
        .where(k.id == key_id)
        .where(k.revoked_at.is_(None))
        .where(sa.or_(k.budget_nusd.is_(None), k.spent_nusd + amount_nusd <= k.budget_nusd))
        .values(spent_nusd=k.spent_nusd + amount_nusd)
        .returning(k.budget_nusd, k.spent_nusd)
    )
    with engine.begin() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    return 2**62 if row[0] is None else row[0] - row[1]


def must_wait_for_settlement(left_nusd: int, amount_nusd: int) -> bool:
    """Whether a response should wait for its settlement to be committed: only when the
    key is near its budget (fewer than :data:`SETTLE_MARGIN` more reservations of this
    size fit), where an unsettled reservation could refuse the key's next request.
    Further away, the lag of the background writer cannot refuse anything of that size."""
    return left_nusd < SETTLE_MARGIN * amount_nusd


def settle(conn: sa.Connection, key_id: str, reserved_nusd: int, actual_nusd: int) -> None:
    """Replace a reservation by the actual cost (inside the usage-row transaction)."""
    delta = actual_nusd - reserved_nusd
    if delta == 0:
        return
    k = gateway_keys.c
    conn.execute(gateway_keys.update().where(k.id == key_id)
                 .values(spent_nusd=k.spent_nusd + delta))
