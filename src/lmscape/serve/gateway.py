"""The gateway's request pipeline: one path for every endpoint.

    admit:   (the guard authenticated the key) -> model visible to the key? -> rate limit
             -> reserve budget
    execute: choose the targets (the model, then its fallbacks; routing plugs in here),
             run the operation on each in turn while it fails in a way worth falling
             back from, and account for the one that answered
    finish:  queue a usage row (+ budget settlement) for the background writer

An :class:`Operation` (chat or text completion, embeddings) knows how to run on a
target: through :mod:`lmscape.serve.proxy` for OpenAI-compatible upstreams (bytes in,
bytes out), or on an lmscape backend in a :mod:`lmscape.serve.pool` slot. It returns a
:class:`Served`: the response and the tokens to bill, or, for a stream, a response
that bills itself through :meth:`Gateway.finish` when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from starlette.responses import Response

from lmscape.errors import (
    AuthenticationError,
    ConnectionFailedError,
    LmscapeError,
    ModelLoadError,
    RateLimitError,
    UpstreamError,
)
from lmscape.serve import accounting, revocation, routing
from lmscape.serve import keys as keystore
from lmscape.serve.auth import Authenticator
from lmscape.serve.config import GatewayConfig, Kind, Route
from lmscape.serve.errors import GatewayError, from_lmscape, internal, not_found_model
from lmscape.serve.guard import caller_of, was_authenticated
from lmscape.serve.keys import KeyInfo
from lmscape.serve.pool import ModelPool
from lmscape.serve.proxy import OpenAIUpstream
from lmscape.serve.ratelimit import RateLimiter
from lmscape.serve.usage import UsageRecord, UsageWriter
from lmscape.store import Store

log = logging.getLogger("lmscape.serve")
_NOT_GIVEN = object()

# Failures after which the next model of the fallback chain is tried.
FALLBACK_ON = (RateLimitError, UpstreamError, ConnectionFailedError, AuthenticationError,
               ModelLoadError)


@dataclass
class Served:
    """What an operation returns: the response, and the tokens it used (``None`` for a
    stream, which settles its own usage when it ends)."""

    response: Response
    prompt_tokens: int | None = 0
    completion_tokens: int = 0
    route: str | None = None  # routed answers: who answered and why (JSON, usage row)
    cost_nusd: int | None = None  # routed answers: the members' own cost


class Operation(Protocol):
    """A request the gateway can execute on any target of its kind."""

    kind: Kind

    async def via_upstream(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        """Forward to an OpenAI-compatible upstream."""

    async def via_backend(self, gw: Gateway, ticket: Ticket, route: Route) -> Served:
        """Run on an lmscape backend (local model, Anthropic, Google...) in the pool."""


@dataclass
class Ticket:
    """An admitted request: who, which models, what was reserved."""

    endpoint: str
    model: str
    chain: list[Route]
    key: KeyInfo | None
    reserved_nusd: int = 0
    started: float = field(default_factory=time.perf_counter)
    run_started: float = 0.0  # when the model that answered was handed the request
    stream: bool = False
    finished: bool = False
    settle_now: bool = False  # near its budget: the response waits for its settlement
    settlement: Future | None = None  # that usage row, being committed
    route_note: str | None = None  # set when the key's budget fallback took the request
    charge_key: bool = True  # False: recorded, not charged (the budget fallback)

    @property
    def key_id(self) -> str | None:
        return self.key.id if self.key else None

    @property
    def budgeted(self) -> bool:
        return self.key is not None and self.key.budget_nusd is not None


class Gateway:
    """Routes, store, pool, upstream clients and accounting for one worker process."""

    def __init__(self, config: GatewayConfig, store: Store, routes: dict[str, Route], *,
                 allow_open: bool, workers: int = 1) -> None:
        self.config, self.limits = config, config.limits
        self.store, self.routes = store, routes
        self.auth = Authenticator(store, allow_open=allow_open, ttl_s=self.limits.key_cache_ttl_s,
                                  watch=revocation.watch(store))
        self.limiter = RateLimiter(workers)
        self.pool: ModelPool | None = None
        self.upstream = OpenAIUpstream(self.limits)
        self.usage = UsageWriter(store, interval_s=self.limits.usage_flush_s)
        self._chains: dict[tuple[str, Kind], list[Route]] = {}
        self.policies = routing.Policies()  # auto:NAME models (serve/routing.py)

    async def start(self) -> None:
        self.pool = ModelPool(self.limits)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()
        await self.upstream.aclose()
        self.policies.close()
        self.usage.close()
        self.auth.close()

    # -- admission -------------------------------------------------------------------------
    def visible(self, key: KeyInfo | None) -> list[str]:
        """The model names ``key`` may see (all of them under open access): the served
        models, then the ``auto:`` routing policies."""
        names = [*self.routes, *self.policies.names()]
        if key is None or key.models is None:
            return names
        return [name for name in names if key.allows(name)]

    def route(self, name: str, kind: Kind, key: KeyInfo | None = None) -> Route:
        """The route for ``name`` (a served model or an ``auto:`` policy); a 404
        (suggesting only models ``key`` may use) when it does not exist or lies outside
        the key's allow-list, as OpenAI answers."""
        route = self.routes.get(name) or self.policies.route(name)
        if route is None or (key is not None and not key.allows(name)):
            raise not_found_model(name, self.visible(key))
        if kind not in route.kinds:
            raise GatewayError(
                400, f"model {name!r} does not serve /v1/{kind.replace('chat', 'chat/completions')}"
                f" (it serves: {', '.join(route.kinds)})",
                param="model", code="unsupported_operation")
        return route

    def chain(self, route: Route, kind: Kind) -> list[Route]:
        """The route, then its configured fallbacks that serve ``kind`` (built once)."""
        chain = self._chains.get((route.name, kind))
        if chain is None:
            chain = [route]
            for name in self.config.fallbacks.get(route.name, []):
                alt = self.routes[name]
                if kind in alt.kinds and alt not in chain:
                    chain.append(alt)
            self._chains[(route.name, kind)] = chain
        return chain

    async def authenticate(self, authorization: str | None) -> KeyInfo | None:
        if self.auth.cached(authorization):
            return self.auth.authenticate(authorization)
        assert self.pool is not None
        return await self.pool.run(self.auth.authenticate, authorization)

    async def caller(self, request) -> KeyInfo | None:
        """The request's key: as :class:`~lmscape.serve.guard.Guard` authenticated it
        before the body was read, else (a path the guard leaves public) from its header."""
        key = caller_of(request.scope)
        if was_authenticated(key):
            return key
        return await self.authenticate(request.headers.get("authorization"))

    async def admit(self, *, endpoint: str, kind: Kind, model: str,
                    key: KeyInfo | None | object = _NOT_GIVEN, authorization: str | None = None,
                    prompt_bound: int, completion_bound: int, stream: bool = False) -> Ticket:
        """Check the allow-list, rate and budget of ``key`` (from :meth:`caller`; or
        authenticate ``authorization`` when no key is given); reserve the request's
        maximum cost. A refusal for a known key is recorded as a usage row too."""
        started = time.perf_counter()
        if key is _NOT_GIVEN:
            key = await self.authenticate(authorization)
        try:
            return await self._admit(key, endpoint=endpoint, kind=kind, model=model,
                                     prompt_bound=prompt_bound,
                                     completion_bound=completion_bound, stream=stream)
        except GatewayError as err:
            if key is not None:
                self.usage.record(UsageRecord(
                    key_id=key.id, endpoint=endpoint, model=model, served_by=None,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    status=err.status, error=err.code or err.type, stream=stream))
            raise

    async def _admit(self, key: KeyInfo | None, *, endpoint: str, kind: Kind, model: str,
                     prompt_bound: int, completion_bound: int, stream: bool) -> Ticket:
        route = self.route(model, kind, key)
        ticket = Ticket(endpoint=endpoint, model=model, chain=self.chain(route, kind), key=key,
                        stream=stream)
        if key is None:
            return ticket
        wait = self.limiter.check(key.id, key.rpm)
        if wait is not None:
            raise GatewayError(429, f"rate limit of {key.rpm} requests per minute reached",
                               type="rate_limit_error", code="rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        if key.budget_nusd is not None:
            amount = accounting.max_cost_nusd(ticket.chain, prompt_bound, completion_bound,
                                              max_wall_s=self.limits.request_timeout_s)
            assert self.pool is not None
            left = await self.pool.run(accounting.reserve_left, self.store.engine, key.id,
                                       amount)
            if left is None:
                current = await self.pool.run(keystore.get_key, self.store, key.id)
                if not current.active:  # revoked since it was cached
                    raise GatewayError(401, f"The API key {key.prefix}... has been revoked.",
                                       type="authentication_error", code="invalid_api_key")
                fallback = await routing.budget_fallback(self, ticket, kind, prompt_bound,
                                                         completion_bound)
                if fallback is not None:
                    return fallback
                raise GatewayError(
                    429, "this key's budget cannot cover the request "
                    f"(up to ${amount / 1e9:.6f}); raise the budget or lower max_tokens",
                    type="insufficient_quota", code="insufficient_quota",
                    headers={"Retry-After": "60"})
            ticket.reserved_nusd = amount
            ticket.settle_now = accounting.must_wait_for_settlement(left, amount)
        return ticket

    # -- execution ---------------------------------------------------------------------------
    def targets(self, ticket: Ticket) -> list[Route]:
        """The routes to try, in order, for an admitted request."""
        return ticket.chain

    async def execute(self, ticket: Ticket, op: Operation) -> Response:
        """Run ``op`` on the first target that answers; fall back while targets fail in
        a way worth falling back from; bill the one that answered."""
        targets = self.targets(ticket)
        for i, route in enumerate(targets):
            run = self.policies.runner(op, route) or (
                op.via_upstream if route.passthrough else op.via_backend)
            ticket.run_started = time.perf_counter()
            try:
                served = await run(self, ticket, route)
            except Exception as exc:  # noqa: BLE001
                if should_fall_back(exc) and i + 1 < len(targets):
                    log.warning("%s failed (%s); falling back to %s", route.name,
                                type(exc).__name__, targets[i + 1].name)
                    continue
                err = self.fail(ticket, exc)
                await self.settled(ticket)
                raise err from None
            if served.prompt_tokens is not None:
                self.finish(ticket, served_by=route, prompt_tokens=served.prompt_tokens,
                            completion_tokens=served.completion_tokens, route=served.route,
                            cost_nusd=served.cost_nusd)
                await self.settled(ticket)
            routing.annotate(ticket, served.response)
            return served.response
        raise AssertionError("no target to execute on")

    # -- completion ------------------------------------------------------------------------
    def finish(self, ticket: Ticket, *, served_by: Route | None, prompt_tokens: int = 0,
               completion_tokens: int = 0, status: int = 200, error: str | None = None,
               route: str | None = None, cost_nusd: int | None = None) -> None:
        """Queue the usage row once per ticket; it settles the reservation. A ticket
        near its key's budget asks the writer to commit it now (see :meth:`settled`).
        ``route`` and ``cost_nusd``: a routed answer's note and its members' own cost."""
        if ticket.finished:
            return
        ticket.finished = True
        now = time.perf_counter()
        if cost_nusd is not None:
            cost = cost_nusd
        elif served_by:
            cost = accounting.cost_nusd(
                served_by, prompt_tokens, completion_tokens,
                wall_s=now - (ticket.run_started or ticket.started),
                max_wall_s=self.limits.request_timeout_s)
        else:
            cost = 0
        record = self.usage.commit if ticket.settle_now else self.usage.record
        ticket.settlement = record(UsageRecord(
            key_id=ticket.key_id, endpoint=ticket.endpoint, model=ticket.model,
            served_by=served_by.name if served_by else None,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            cost_nusd=cost, reserved_nusd=ticket.reserved_nusd,
            latency_ms=(now - ticket.started) * 1000,
            status=status, error=error, stream=ticket.stream,
            route=route or ticket.route_note, charge_key=ticket.charge_key,
        ))

    async def settled(self, ticket: Ticket) -> None:
        """Wait until a ticket near its budget has its usage row and settlement
        committed, so the key's next request sees its true spend (no wait otherwise)."""
        pending, ticket.settlement = ticket.settlement, None
        if pending is not None:
            await asyncio.wrap_future(pending)

    async def finish_settled(self, ticket: Ticket, **kw) -> None:
        """:meth:`finish`, then :meth:`settled` (streams, before their last event)."""
        self.finish(ticket, **kw)
        await self.settled(ticket)

    def fail(self, ticket: Ticket, exc: BaseException) -> GatewayError:
        """Turn ``exc`` into a gateway error and record the failed request."""
        err = as_gateway_error(exc)
        self.finish(ticket, served_by=None, status=err.status, error=err.code or err.type)
        return err


def as_gateway_error(exc: BaseException) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, LmscapeError):
        return from_lmscape(exc)
    log.error("internal error while serving", exc_info=exc)
    return internal(exc)


def should_fall_back(exc: BaseException) -> bool:
    return isinstance(exc, FALLBACK_ON) or (
        isinstance(exc, GatewayError) and exc.code in ("model_overloaded", "model_unavailable")
    )
