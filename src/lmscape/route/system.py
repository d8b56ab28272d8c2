"""Routed systems as systems: the ``lmscape.systems`` entry point.

``methods.registry.build_system`` hands ``cascade(...)``, ``router(...)`` and
``auto:NAME`` specs to :func:`build_routed`, which returns a :class:`RoutedSystem`:
the same interface as a model+method system (``name``, ``method``, ``model_id``,
``cache_params()``, ``close()``), so the bench runner measures it and the gateway
serves it. A policy's members must exist and share the policy's task; every
problem is one clear error before anything loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmscape.errors import ConfigError
from lmscape.route.base import RoutedMethod
from lmscape.route.members import build_members, check_members
from lmscape.route.policy import Policy, load_policy
from lmscape.route.spec import RoutedSpec, parse


@dataclass
class RoutedSystem:
    """A cascade or router, ready to predict like any system."""

    name: str
    method: RoutedMethod
    model_id: str | None = None
    resolved: Any = None
    endpoint: str | None = None
    policy: Policy | None = None

    @property
    def model(self) -> Any:
        return None

    @property
    def members(self) -> list[Any]:
        return self.method.members

    def cache_params(self) -> dict[str, Any]:
        return self.method.cache_params()

    def close(self) -> None:
        self.method.close()


def make_method(kind: str, task: Any, members: list[str], *, thresholds: list[float] | None,
                owner: str, base_url: str | None = None, **kw: Any) -> RoutedMethod:
    """Build the members and the cascade or router method over them."""
    from lmscape.route.cascade import CascadeMethod
    from lmscape.route.router import RouterMethod

    built = build_members(members, task, owner=owner, base_url=base_url)
    cls = CascadeMethod if kind == "cascade" else RouterMethod
    return cls(task, built, thresholds=thresholds, label=owner, **kw)


def policy_method(policy: Policy, task: Any, *, base_url: str | None = None) -> RoutedMethod:
    """The method a saved policy describes (members built, thresholds set)."""
    if policy.task != task.name:
        raise ConfigError(f"policy {policy.name!r} routes task {policy.task}, not {task.name}",
                          hint=f"run it with --task {policy.task}")
    check_members(policy.members, task, owner=f"policy {policy.name!r}")
    steps = len(policy.members) - 1
    if len(policy.thresholds) != steps:
        raise ConfigError(f"policy {policy.name!r} has {len(policy.thresholds)} thresholds "
                          f"for {steps} steps", hint="calibrate the policy again")
    kw: dict[str, Any] = {}
    if policy.kind == "router":
        if policy.router is None:
            raise ConfigError(f"router policy {policy.name!r} has no router weights",
                              hint="calibrate the policy again")
        kw = {"encoder": policy.router.encoder,
              "weights": {"coef": policy.router.coef, "intercept": policy.router.intercept}}
    ids = policy.calibration.item_ids if policy.calibration else []
    return make_method(policy.kind, task, policy.members, thresholds=list(policy.thresholds),
                       owner=f"policy {policy.name!r}", base_url=base_url,
                       calibration_ids=ids, **kw)


def build_routed(spec: str, task: Any, *, base_url: str | None = None,
                 **params: Any) -> RoutedSystem:
    """The ``lmscape.systems`` builder for ``cascade(...)``, ``router(...)``, ``auto:NAME``."""
    if params:
        raise ConfigError(f"{spec} takes no method parameters ({', '.join(params)})",
                          hint="give member options inside each member's own system")
    parsed: RoutedSpec = parse(spec)
    if parsed.policy is not None:
        policy = load_policy(parsed.policy)
        return RoutedSystem(name=parsed.name, method=policy_method(policy, task,
                                                                   base_url=base_url),
                            policy=policy)
    goal: dict[str, Any] = {}
    if parsed.max_share_large is not None:
        goal["max_share_large"] = parsed.max_share_large
    elif parsed.target_quality is not None:
        goal["target_quality"] = parsed.target_quality
    method = make_method(parsed.kind, task, parsed.members, thresholds=parsed.thresholds,
                         owner=parsed.name, base_url=base_url, goal=goal,
                         n_calib=parsed.n_calib, seed=parsed.seed)
    return RoutedSystem(name=parsed.name, method=method)
