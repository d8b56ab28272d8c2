"""Routing policies: ``$LMSCAPE_HOME/policies/NAME.yaml``.

A policy is data (safe-loaded YAML, validated with ``extra="forbid"``): the kind
(cascade or router), the task, the members cheapest first, one threshold per step,
the router's classifier weights (router only) and the calibration it came from
(split, items, date, member quality and cost, the curve, the one-sentence
explanation). Saving writes a temporary file and renames it, so a policy is never
half-written.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lmscape.config import load_settings
from lmscape.errors import ConfigError, NotFoundError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


class RouterWeights(BaseModel):
    """One logistic-regression head per non-last member: P(member is right | embedding)."""

    model_config = ConfigDict(extra="forbid")
    encoder: str
    coef: list[list[float]]
    intercept: list[float]


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    split: str
    n: int
    items_digest: str
    item_ids: list[str] = Field(default_factory=list)
    date: str
    cost_unit: str
    members: list[dict[str, Any]]  # name, quality, cost per item, cpu_s per item
    curve: list[dict[str, Any]]
    chosen: dict[str, Any]
    goal: dict[str, Any]
    explanation: str


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["cascade", "router"]
    task: str
    members: list[str]
    thresholds: list[float]
    router: RouterWeights | None = None
    calibration: Calibration | None = None
    created: str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(
        timespec="seconds"))

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        for t in v:
            if not 0.0 <= t <= 1.0 + 1e-9:
                raise ValueError(f"threshold {t:g} is outside 0–1")
        return v

    @property
    def spec(self) -> str:
        return f"auto:{self.name}"


def policies_dir() -> Path:
    return load_settings().home / "policies"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"policy name {name!r} is not allowed",
                          hint="use letters, digits, '-', '_' or '.' (e.g. sentiment)")
    return name


def policy_path(name: str) -> Path:
    return policies_dir() / f"{check_name(name)}.yaml"


def list_policies() -> list[str]:
    d = policies_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def load_policy(name: str) -> Policy:
    """The saved policy ``name``; NotFoundError (with the names there are) if none."""
    path = policy_path(name)
    if not path.is_file():
        raise NotFoundError("routing policy", name, list_policies(),
                            hint="create it with `lmscape route calibrate --name "
                                 f"{name} --task TASK --systems A,B`")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return Policy.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        why = (f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first
               else str(exc).splitlines()[0])
        raise ConfigError(f"policy file {path} is invalid ({why})",
                          hint="fix the file or calibrate it again") from None


def save_policy(policy: Policy) -> Path:
    """Write the policy atomically; return its path."""
    path = policy_path(policy.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False,
                                  width=100))
    tmp.replace(path)
    return path
