"""Where the time of one ``lmscape bench`` invocation went.

- :class:`SystemTiming`: per system, filled by ``suite.run_plans``: load, train, items,
  total (wall seconds) and CPU seconds over the same span;
- :class:`PhaseClock`: the one-off work around the systems (start-up and imports,
  reading the items, printing the leaderboards, writing the report), timed by the
  caller with ``with clock.phase(name):``;
- :class:`Breakdown`: both, plus the process's own totals (:func:`.measure.process_usage`:
  wall since the process started, CPU of the process and its ended children, peak RSS).
  ``other_s`` is what no phase or system accounts for, so the parts add up to the wall.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from lmscape.bench.measure import ProcessUsage, cpu_seconds, process_usage


@dataclass(kw_only=True)
class SystemTiming:
    """Where one system's time went in this invocation (seconds)."""

    task: str
    system: str
    status: str  # done | skipped (could not be built) | failed (raised while running)
    load_s: float  # building the system: loading the model, the method's set-up
    train_s: float | None = None  # training / calibration (None: the method has none)
    items_s: float = 0.0  # predicting, scoring and storing the items
    total_s: float = 0.0  # all of the above plus closing the model and freeing memory
    cpu_s: float = 0.0  # user + system CPU of the process and ended children, same span
    n_computed: int = 0
    n_cached: int = 0
    n_resumed: int = 0


@dataclass(frozen=True, kw_only=True)
class Phase:
    name: str
    wall_s: float
    cpu_s: float


class PhaseClock:
    """Times named one-off phases (wall and CPU seconds)."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []

    def add(self, name: str, wall_s: float, cpu_s: float) -> None:
        self.phases.append(Phase(name=name, wall_s=wall_s, cpu_s=cpu_s))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - wall, cpu_seconds() - cpu)


def running_phase(jobs: int) -> str:
    """The phase that holds the wall time of systems run ``jobs`` at a time."""
    return f"systems, {jobs} at a time (worker processes)"


@dataclass(kw_only=True)
class Breakdown:
    systems: list[SystemTiming] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    usage: ProcessUsage | None = None  # the process's totals when the breakdown was taken
    # systems run at once in worker processes; above 1 their rows overlap in time and a
    # phase (``running_phase(jobs)``) holds the wall time of all of them together
    jobs: int = 1

    @classmethod
    def now(cls, systems: list[SystemTiming], phases: list[Phase], *,
            jobs: int = 1) -> Breakdown:
        return cls(systems=list(systems), phases=list(phases), usage=process_usage(),
                   jobs=jobs)

    @property
    def accounted_s(self) -> float:
        systems = 0.0 if self.jobs > 1 else sum(s.total_s for s in self.systems)
        return sum(p.wall_s for p in self.phases) + systems

    @property
    def other_s(self) -> float | None:
        """Wall seconds outside every phase and system (opening the store, set-up)."""
        if self.usage is None:
            return None
        return max(0.0, self.usage.wall_s - self.accounted_s)

    def one_off(self) -> dict[str, float]:
        """Seconds of one-off work: model loads and fits of all systems, then each phase."""
        out = {"model loads": sum(s.load_s for s in self.systems),
               "training": sum(s.train_s or 0.0 for s in self.systems)}
        out.update({p.name: p.wall_s for p in self.phases})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "usage": asdict(self.usage) if self.usage else None,
            "systems": [asdict(s) for s in self.systems],
            "phases": [asdict(p) for p in self.phases],
            "other_s": self.other_s,
            "jobs": self.jobs,
        }
