"""Routing in the gateway: policies served as models, and the budget fallback.

``model="auto:NAME"`` names the policy saved as ``$LMSCAPE_HOME/policies/NAME.yaml``
(``lmscape route calibrate``). :class:`Policies` gives :meth:`Gateway.route
<lmscape.serve.gateway.Gateway.route>` a :class:`~lmscape.serve.config.Route` for it
and :meth:`Gateway.execute <lmscape.serve.gateway.Gateway.execute>` the coroutine that
runs it, so a routed request takes the gateway's one execute path (admission, budget
reservation, usage row, settlement) like any other:

- the request's input is the last user message (chat) or each prompt (completions);
- the policy's routed system predicts it (its members loaded once per worker, on
  first use; one request at a time per policy, in the pool's threads);
- the answer is the prediction as text: the label for a task policy such as
  ``auto:sentiment``, the reply for a generation policy;
- the response carries ``x-lmscape-route`` (the member that answered and why) and
  the usage row its ``route`` (JSON: policy, member, members asked, reason, the
  milliseconds spent in the members and in routing itself); the row
  is billed what its members cost: local members by their wall time at
  ``LMSCAPE_HARDWARE_USD_PER_HOUR`` (as every local model in the gateway), remote ones
  by their tokens at list price.

Budget fallback: a key created with ``--on-budget-exhausted local:MODEL`` whose
budget cannot cover a request is served by that local model instead of a 429. The
decision is the budget's own reservation rule (:mod:`.accounting`): the atomic
reservation for the requested model failed, so it is exact across workers. The
fallback's machine time is recorded on its usage row but not charged to the spent
budget (the key's owner chose local service once the budget is gone). The response says
so (``x-lmscape-route: fallback=budget-exhausted``) and so does the usage row.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.responses import Response, StreamingResponse

from lmscape.backends.base import Result, Usage
from lmscape.backends.resolve import ResolvedModel, TokenPrice
from lmscape.errors import LmscapeError
from lmscape.serve import shapes
from lmscape.serve.config import Kind, Route
from lmscape.serve.errors import GatewayError

POLICY_PREFIX = "auto:"
LOCAL_PREFIX = "local:"
ROUTE_HEADER = "x-lmscape-route"
POLICY_KINDS: tuple[Kind, ...] = ("chat", "completions")


def answer_text(output: Any) -> str:
    """A prediction as reply text: a label as is, keyphrases comma-separated."""
    if output is None:
        return ""
    if isinstance(output, list | tuple):
        return ", ".join(str(o) for o in output)
    return str(output)


class PolicyTarget:
    """One policy's routed system in this worker: built once, one request at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.system: Any = None
        self.lock = threading.Lock()
        self.prices: dict[str, tuple[float, float]] = {}

    def predict(self, texts: list[str]) -> tuple[list[Any], float]:
        """Predictions, and the seconds spent inside the members (the rest of the time
        is routing's own: lookups, confidences, bookkeeping)."""
        from lmscape.tasks.base import Item

        with self.lock:
            if self.system is None:
                self._build()
            items = [Item(id=f"request-{uuid.uuid4().hex[:12]}", text=t) for t in texts]
            method = self.system.method
            method.member_s = 0.0
            preds = method.predict(items)
            return preds, method.member_s

    def _build(self) -> None:
        from lmscape.route.policy import load_policy
        from lmscape.route.system import build_routed
        from lmscape.tasks.registry import get_task

        policy = load_policy(self.name)
        self.system = build_routed(f"{POLICY_PREFIX}{self.name}", get_task(policy.task))
        for member in self.system.members:
            price = getattr(getattr(member, "resolved", None), "price", None)
            self.prices[member.name] = ((price.input_per_mtok, price.output_per_mtok)
                                        if price else (0.0, 0.0))

    def cost_nusd(self, prediction: Any) -> int:
        """What the members cost (nano-dollars), by the rule bench and the gateway bill
        by: local members by their wall time at the hardware rate, remote ones by tokens
        at list price; members without a known cost count their tokens at list price."""
        known = prediction.extra.get("cost_usd")
        if known is not None:
            return round(known * 1e9)
        total = 0.0
        for step in prediction.extra.get("route", {}).get("asked", []):
            pin, pout = self.prices.get(step["member"], (0.0, 0.0))
            total += 1000 * (pin * step.get("prompt_tokens", 0)
                             + pout * step.get("completion_tokens", 0))
        return round(total)

    def close(self) -> None:
        if self.system is not None:
            self.system.close()
            self.system = None


class Policies:
    """The ``auto:NAME`` models of one gateway worker."""

    def __init__(self) -> None:
        self._targets: dict[str, PolicyTarget] = {}
        self._routes: dict[str, Route] = {}

    @staticmethod
    def names() -> list[str]:
        """``auto:NAME`` for every saved policy, read when asked: a policy calibrated
        while the gateway runs is listed (and served) without a restart."""
        from lmscape.route.policy import list_policies

        return [POLICY_PREFIX + name for name in list_policies()]

    def route(self, name: str) -> Route | None:
        """A route for ``auto:NAME`` if that policy exists; None for other names."""
        if not name.startswith(POLICY_PREFIX):
            return None
        route = self._routes.get(name)
        if route is None:
            from lmscape.route.policy import load_policy

            try:
                policy = load_policy(name[len(POLICY_PREFIX):])
            except LmscapeError:
                return None
            resolved = ResolvedModel(backend="route", model=name, source="auto", spec=name,
                                     serves=POLICY_KINDS, owned_by="lmscape",
                                     price=_dearest(policy.members))
            route = self._routes[name] = Route(name=name, resolved=resolved,
                                               kinds=POLICY_KINDS)
        return route

    @staticmethod
    def is_policy(route: Route) -> bool:
        return route.resolved.source == "auto"

    def runner(self, op: Any, route: Route) -> Callable[..., Awaitable[Any]] | None:
        """The coroutine that serves ``op`` on a policy route; None for other routes."""
        if not self.is_policy(route):
            return None

        async def run(gw: Any, ticket: Any, route: Route) -> Any:
            return await self.serve(gw, ticket, route, op)

        return run

    def _target(self, route: Route) -> PolicyTarget:
        name = route.name[len(POLICY_PREFIX):]
        target = self._targets.get(name)
        if target is None:
            target = self._targets[name] = PolicyTarget(name)
        return target

    async def serve(self, gw: Any, ticket: Any, route: Route, op: Any) -> Any:
        from lmscape.serve.gateway import Served

        started = time.perf_counter()
        texts = _inputs(op)
        target = self._target(route)
        assert gw.pool is not None
        preds, member_s = await gw.pool.run(target.predict, texts)
        results = [Result(text=answer_text(p.output), usage=p.usage, model=route.name)
                   for p in preds]
        usage = shapes.sum_usage(results) if results else Usage()
        first = preds[0].extra
        note = {"policy": route.name, "answered_by": first.get("answered_by"),
                "asked": [s["member"] for s in first.get("route", {}).get("asked", [])],
                "why": first.get("route", {}).get("why")}
        if len(preds) > 1:
            note["answered_by_each"] = [p.extra.get("answered_by") for p in preds]
        header = f"answered_by={note['answered_by']}; policy={route.name}; why={note['why']}"
        if op.stream:
            response: Response = _single_event_stream(ticket.model, op, results[0])
        elif op.chat:
            response = shapes.json_response(shapes.chat_completion(ticket.model, results[0]))
        else:
            response = shapes.json_response(shapes.text_completion(ticket.model, results))
        response.headers[ROUTE_HEADER] = _ascii(header)
        note["member_ms"] = round(member_s * 1000, 3)
        note["routing_ms"] = round((time.perf_counter() - started - member_s) * 1000, 3)
        return Served(response, prompt_tokens=usage.prompt_tokens,
                      completion_tokens=usage.completion_tokens,
                      route=json.dumps(note), cost_nusd=sum(target.cost_nusd(p) for p in preds))

    def close(self) -> None:
        for target in self._targets.values():
            target.close()


def _dearest(members: list[str]) -> TokenPrice | None:
    """The highest list price among the members: what a budget reserves for a request."""
    from lmscape.backends.resolve import resolve
    from lmscape.methods.registry import parse_spec

    prices = []
    for spec in members:
        model, _ = parse_spec(spec)
        if model:
            try:
                price = resolve(model).price
            except LmscapeError:
                price = None
            if price is not None:
                prices.append(price)
    if not prices:
        return None
    return TokenPrice(max(p.input_per_mtok for p in prices),
                      max(p.output_per_mtok for p in prices), source="dearest member")


def _inputs(op: Any) -> list[str]:
    if op.chat:
        messages = op.requests[0].messages or []
        users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
        if not users:
            raise GatewayError(400, "an auto: model answers the last user message; "
                               "the request has none", param="messages", code="invalid_value")
        return [users[-1]]
    return [r.prompt or "" for r in op.requests]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _single_event_stream(model: str, op: Any, result: Result) -> Response:
    """The whole routed answer as one Server-Sent Events stream."""
    maker = shapes.ChunkMaker(model, chat=op.chat)

    async def events() -> AsyncIterator[bytes]:
        if op.chat:
            yield shapes.sse(maker.role())
        yield shapes.sse(maker.text(result.text))
        yield shapes.sse(maker.finish("stop"))
        if op.include_usage:
            yield shapes.sse(maker.usage(result.usage.prompt_tokens,
                                         result.usage.completion_tokens))
        yield shapes.SSE_DONE

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


# -- budget fallback --------------------------------------------------------------------------
def fallback_model(value: str) -> str:
    """The served model name of ``local:MODEL`` (or MODEL)."""
    return value.removeprefix(LOCAL_PREFIX)


async def budget_fallback(gw: Any, ticket: Any, kind: Kind, prompt_bound: int,
                          completion_bound: int) -> Any | None:
    """Re-target an admitted request whose budget reservation failed to the key's
    ``on_budget_exhausted`` local model; None when the key has no fallback or the
    fallback cannot take it. The fallback's machine time is recorded on its usage row
    (``lmscape usage`` shows it) but not charged to the spent budget: the key's owner
    chose to be served locally once the budget is gone, so nothing is reserved."""
    key = ticket.key
    target = getattr(key, "on_budget_exhausted", None)
    if not target:
        return None
    name = fallback_model(target)
    route = gw.routes.get(name)
    if route is None or not route.is_local or kind not in route.kinds:
        return None
    note = {"fallback": "budget_exhausted", "requested": ticket.model, "served": name}
    return replace(ticket, chain=[route], reserved_nusd=0, charge_key=False,
                   route_note=json.dumps(note))


def annotate(ticket: Any, response: Response) -> None:
    """Say on the response that the key's budget fallback served it."""
    if ticket.route_note and ROUTE_HEADER not in response.headers:
        note = json.loads(ticket.route_note)
        response.headers[ROUTE_HEADER] = _ascii(
            f"fallback=budget-exhausted; requested={note['requested']}; "
            f"served_by={note['served']}")
