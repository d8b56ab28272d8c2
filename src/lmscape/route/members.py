"""A routed system's members: checked against the task before any model loads, then
built with ``methods.registry.build_system`` (each member is an ordinary system)."""

from __future__ import annotations

import contextlib
from typing import Any

from lmscape.errors import ConfigError, LmscapeError, NotFoundError
from lmscape.methods.registry import METHODS, build_system, parse_spec
from lmscape.route.spec import is_routed


def check_members(members: list[str], task: Any, *, owner: str) -> None:
    """Every member names a known method that works on ``task``; routed members are
    not nested. Raises one clear error naming the member."""
    for spec in members:
        if is_routed(spec):
            raise ConfigError(f"{owner} has a routed member {spec!r}",
                              hint="list plain systems (MODEL/METHOD) as members")
        _, method = parse_spec(spec)
        if method not in METHODS:
            raise NotFoundError("system", spec, [],
                                hint=f"{owner} names {spec!r}, whose method {method!r} does "
                                     "not exist; run `lmscape tasks` for the methods")
        if task.name not in METHODS[method]:
            works = ", ".join(METHODS[method])
            raise ConfigError(
                f"the members of {owner} do not share a task: {spec} works on {works}, "
                f"not {task.name}",
                hint=f"pick members that all run {task.name} (see `lmscape tasks`)")


def build_members(members: list[str], task: Any, *, owner: str,
                  base_url: str | None = None) -> list[Any]:
    """Build every member (closing those already built if one fails)."""
    check_members(members, task, owner=owner)
    built: list[Any] = []
    try:
        for spec in members:
            try:
                built.append(build_system(spec, task, base_url=base_url) if base_url
                             else build_system(spec, task))
            except LmscapeError as exc:
                raise ConfigError(
                    f"{owner} names system {spec!r}, which cannot be built here: "
                    f"{exc.message}",
                    hint=exc.hint or "check the member's name with `lmscape models`",
                ) from exc
    except BaseException:
        for system in built:
            with contextlib.suppress(Exception):
                system.close()
        raise
    return built
