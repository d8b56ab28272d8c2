"""Parse routed-system specs.

| spec | meaning |
|---|---|
| ``cascade(A,B[,C…])`` | a cascade, thresholds calibrated when it is first fitted |
| ``cascade(A,B,threshold=0.8)`` | every step escalates below 0.8 |
| ``cascade(A,B,C,threshold=0.8,threshold=0.6)`` | one threshold per step, in order |
| ``router(A,B[,…][,threshold=…])`` | a learned router |
| ``…,target=0.99`` / ``…,max_share_large=0.3`` | the calibration goal when none is given |
| ``auto:NAME`` | the saved policy NAME |

Members are system names (``MODEL/METHOD``); options are ``key=value``. Nothing is
loaded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lmscape.errors import ConfigError

KINDS = ("cascade", "router")
_CALL = re.compile(r"^\s*(?P<kind>[a-z_]+)\s*\((?P<args>.*)\)\s*$", re.DOTALL)
OPTIONS = ("threshold", "target", "max_share_large", "n_calib", "seed")


@dataclass(kw_only=True)
class RoutedSpec:
    """A parsed ``cascade(...)`` / ``router(...)`` spec."""

    kind: str
    members: list[str]
    thresholds: list[float] | None = None
    target_quality: float | None = None
    max_share_large: float | None = None
    n_calib: int = 200
    seed: int = 7
    policy: str | None = None  # auto:NAME
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        if self.policy:
            return f"auto:{self.policy}"
        opts = [f"threshold={t:g}" for t in self.thresholds or ()]
        if self.target_quality is not None:
            opts.append(f"target={self.target_quality:g}")
        if self.max_share_large is not None:
            opts.append(f"max_share_large={self.max_share_large:g}")
        return f"{self.kind}({','.join([*self.members, *opts])})"


def check_fraction(name: str, value: float) -> float:
    """``value`` if it lies in [0, 1]; else a ConfigError naming ``name``."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} {value:g} is outside 0–1",
                          hint=f"give {name} as a fraction between 0 and 1, e.g. 0.8")
    return value


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number",
                          hint=f"write {name}=0.8") from None


def _split_args(args: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in args:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def is_routed(spec: str) -> bool:
    """True for ``cascade(...)``, ``router(...)`` and ``auto:NAME``."""
    m = _CALL.match(spec)
    return bool(m and m.group("kind") in KINDS) or spec.strip().startswith("auto:")


def parse(spec: str) -> RoutedSpec:
    """Parse ``spec``; raise ConfigError with a hint on anything malformed."""
    spec = spec.strip()
    if spec.startswith("auto:"):
        name = spec[len("auto:"):].strip()
        if not name:
            raise ConfigError("auto: needs a policy name",
                              hint="write auto:NAME (see `lmscape route list`)")
        return RoutedSpec(kind="policy", members=[], policy=name)
    m = _CALL.match(spec)
    if not m or m.group("kind") not in KINDS:
        raise ConfigError(f"{spec!r} is not a routed system",
                          hint="write cascade(A,B[,C…]), router(A,B[,…]) or auto:NAME")
    kind = m.group("kind")
    out = RoutedSpec(kind=kind, members=[])
    thresholds: list[float] = []
    for arg in _split_args(m.group("args")):
        key, eq, value = arg.partition("=")
        if not eq or "/" in key or ":" in key:
            out.members.append(arg)
            continue
        key = key.strip().replace("-", "_")
        if key == "threshold":
            thresholds.append(check_fraction("threshold", _float(key, value)))
        elif key in ("target", "target_quality"):
            out.target_quality = _float(key, value)
        elif key == "max_share_large":
            out.max_share_large = check_fraction("max_share_large", _float(key, value))
        elif key in ("n_calib", "seed"):
            setattr(out, key, int(_float(key, value)))
        else:
            raise ConfigError(f"unknown {kind} option {key!r}",
                              hint=f"options are {', '.join(OPTIONS)}")
    if len(out.members) < 2:
        raise ConfigError(f"{kind} needs at least two members, got {len(out.members)}",
                          hint=f"write {kind}(SMALL,LARGE), e.g. {kind}("
                               "all-minilm-l6-v2/logreg-head,gemma-3-270m/few-shot-choice)")
    steps = len(out.members) - 1
    if thresholds:
        if len(thresholds) == 1:
            thresholds = thresholds * steps
        if len(thresholds) != steps:
            raise ConfigError(f"{len(thresholds)} thresholds for {steps} steps",
                              hint="give one threshold for all steps or one per step")
        out.thresholds = thresholds
    if out.target_quality is not None and out.max_share_large is not None:
        raise ConfigError("give target or max_share_large, not both",
                          hint="drop one of them")
    return out
