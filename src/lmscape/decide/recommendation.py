"""``recommend()``: stored measurements + the catalog + constraints and priorities ->
a ranked, explained choice.

1. Read the inputs (priorities, constraints, volume) and fail on bad ones before
   anything else is read.
2. Read the task's leaderboard from the store (``--run RUN_ID``: that run's task and
   dataset). Nothing is run: a task with no finished runs is an error that names the
   ``lmscape bench`` command to run.
3. Build the candidates (measured, reported, unknown quality; see ``candidates``) and
   price them at the volume (see ``costing``).
4. Apply the hard constraints (see ``constraints``); rank the rest (see ``scoring``);
   one line of reasons per row (see ``reasons``).
5. Sensitivity (see ``sensitivity``); when nothing passes, the constraint that comes
   closest to being met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmscape.bench.results import leaderboard, list_runs, tasks_with_runs
from lmscape.decide.candidates import Candidate, build_candidates, price_at
from lmscape.decide.constraints import Split, Violation, apply, closest
from lmscape.decide.inputs import (
    Constraints,
    Priorities,
    Volume,
    parse_constraints,
    parse_priorities,
    parse_volume,
)
from lmscape.decide.reasons import reasons
from lmscape.decide.scoring import Scored, rank
from lmscape.decide.sensitivity import Sensitivity, constraint_changes, weight_changes
from lmscape.errors import ConfigError, DataError, NotFoundError
from lmscape.store.db import Store


@dataclass(frozen=True)
class Ranked:
    scored: Scored
    reasons: list[str]

    @property
    def candidate(self) -> Candidate:
        return self.scored.candidate

    def as_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {"system": c.system, "kind": c.kind, "score": round(self.scored.score, 4),
                "quality": c.quality, "usd_per_1k": c.cost, "latency_p95_s": c.latency_p95_s,
                "reasons": self.reasons}


@dataclass(frozen=True)
class Excluded:
    candidate: Candidate
    violations: list[Violation]

    @property
    def why(self) -> str:
        return "; ".join(f"{v.flag}: {v.why}" for v in self.violations)

    def as_dict(self) -> dict[str, str]:
        return {"system": self.candidate.system, "why": self.why}


@dataclass
class Recommendation:
    task: str
    dataset: str
    metric: str
    higher_is_better: bool
    priorities: Priorities
    constraints: Constraints
    volume: Volume | None
    ranked: list[Ranked]
    excluded: list[Excluded]
    sensitivity: Sensitivity
    cost_model: str
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def top(self) -> Ranked | None:
        return self.ranked[0] if self.ranked else None

    @property
    def question(self) -> str:
        cons = ", ".join(self.constraints.flags()) or "none"
        volume = self.volume.text if self.volume else "not given (cost per use)"
        return (f"Which system for {self.task} ({self.dataset}, {self.metric})? priorities "
                f"{self.priorities.text()}; constraints: {cons}; volume: {volume}")

    @property
    def answer(self) -> str:
        top = self.top
        if top is None:
            closest_text = (self.sensitivity.closest or {}).get("text")
            return "No system meets every constraint." + (f" {closest_text}." if closest_text
                                                           else "")
        return f"{top.candidate.system} ({top.candidate.kind}, score {top.scored.score:.3f})"

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ranked, excluded, sensitivity."""
        return {"ranked": [r.as_dict() for r in self.ranked],
                "excluded": [e.as_dict() for e in self.excluded],
                "sensitivity": self.sensitivity.as_dict()}


def find_run(store: Store, run_id: str):
    """A finished run by id or unique id prefix (as ``lmscape runs`` shows it)."""
    key = run_id.strip()
    runs = list_runs(store)
    matches = [r for r in runs if r.id == key] or [r for r in runs if r.id.startswith(key)]
    if not key or not matches:
        raise NotFoundError("run", run_id, [r.id[:8] for r in runs],
                            hint="`lmscape runs` lists the stored runs")
    if len(matches) > 1:
        raise ConfigError(f"run id {run_id!r} matches {len(matches)} runs",
                          hint="give more characters of the id (see `lmscape runs`)")
    run = matches[0]
    if run.status != "done":
        raise DataError(f"run {run.id[:8]} ({run.system} on {run.task}) is {run.status}, "
                        "not finished",
                        hint="finish it with the same `lmscape bench ...` command plus --resume")
    return run


def check_task(store: Store, task: str | None) -> str:
    from lmscape.tasks.registry import list_tasks

    if not task:
        raise ConfigError("no task given", hint="pass --task TASK (see `lmscape tasks`) or "
                          "--run RUN_ID (see `lmscape runs`)")
    stored = tasks_with_runs(store)
    known = list(dict.fromkeys([*list_tasks(), *stored]))
    if task not in known:
        raise NotFoundError("task", task, known, hint="`lmscape tasks` lists the tasks")
    if task not in stored:
        raise DataError(f"no finished benchmark runs for {task} yet, so nothing to "
                        "recommend from",
                        hint=f"run `lmscape bench --task {task}` first "
                             f"(or `lmscape bench` for the default suite)")
    return task


def load_board(task: str | None, run: str | None, store: Store | None, catalog: Any
               ) -> tuple[Any, Any, Any]:
    """The leaderboard ``recommend`` and ``breakeven`` decide from: of ``task``, or of the
    task and dataset of finished run ``run``; returns (board, catalog, run record or None).
    Opens (and closes) the default store and loads the catalog when not given."""
    own_store = store is None
    if own_store:
        from lmscape.store import open_store

        store = open_store()
    try:
        if catalog is None:
            from lmscape.catalog import load_catalog

            catalog = load_catalog()
        record = find_run(store, run) if run else None
        if record and task and task != record.task:
            raise ConfigError(f"run {record.id[:8]} is on {record.task}, not {task}",
                              hint="give --task or --run, not both")
        name = record.task if record else check_task(store, task)
        board = leaderboard(store, name, record.dataset if record else None, catalog=catalog)
    finally:
        if own_store:
            store.close()
    return board, catalog, record


def _check_scale(min_quality: float | None, cands: list[Candidate], metric: str) -> None:
    known = [c.quality for c in cands if c.quality is not None]
    if min_quality is not None and known and max(known) <= 1 < min_quality:
        raise ConfigError(f"--min-quality {min_quality:g} is off the scale: {metric} runs "
                          "from 0 to 1 here",
                          hint=f"write --min-quality {min_quality / 100:g} (or "
                               f"{min_quality:g}%)")


def _cost_model(cands: list[Candidate], volume: Volume | None) -> str:
    if volume is None:
        return ("cost per use: local systems are charged the machine time they took; "
                "remote models their tokens × list price (give --volume for monthly cost "
                "with reserved machines)")
    host = next((c.hosting for c in cands if c.hosting is not None), None)
    local = (f"local systems on reserved machines billed by the hour whether busy or not "
             f"({host.price_basis}), as many as the measured throughput needs"
             if host else "local systems on reserved machines")
    return (f"cost at {volume.text} ({volume.per_month:,.0f} items/month, 730 h/month): "
            f"{local}; APIs per call (tokens per item × list price)")


def recommend(
    task: str | None = None,
    *,
    run: str | None = None,
    priority: str | Mapping[str, float] | Priorities | None = None,
    volume: str | float | Volume | None = None,
    max_usd_per_1k: str | float | None = None,
    max_latency_ms: str | float | None = None,
    min_quality: str | float | None = None,
    hardware: str | None = None,
    data_must_stay_local: bool = False,
    licence: str | None = None,
    offline: bool = False,
    store: Store | None = None,
    catalog: Any = None,
) -> Recommendation:
    """Rank the systems for ``task`` (or the task of finished run ``run``) under hard
    constraints, by weighted priorities, with reasons and sensitivity. Reads the store
    (default: ``LMSCAPE_DB``) and the catalog; runs nothing.

    >>> rec = lmscape.recommend("sentiment", priority="quality=1,cost=1", volume="50000/day")
    >>> rec.top.candidate.system, rec.as_dict()["ranked"][0]["reasons"]
    """
    priorities = parse_priorities(priority)
    constraints = parse_constraints(
        max_usd_per_1k=max_usd_per_1k, max_latency_ms=max_latency_ms, min_quality=min_quality,
        hardware=hardware, data_must_stay_local=data_must_stay_local, licence=licence,
        offline=offline)
    vol = parse_volume(volume)
    board, catalog, run_record = load_board(task, run, store, catalog)
    return decide(board, catalog, priorities, constraints, vol,
                  run_id=run_record.id if run_record else None)


def decide(board: Any, catalog: Any, priorities: Priorities, constraints: Constraints,
           volume: Volume | None, *, run_id: str | None = None) -> Recommendation:
    """The pure step: a leaderboard + catalog -> a :class:`Recommendation`."""
    cands = build_candidates(board, catalog)
    _check_scale(constraints.min_quality, cands, board.metric)
    price_at(cands, volume)
    higher = board.higher_is_better

    def run_once(cons: Constraints) -> tuple[list[Scored], Split]:
        split = apply(cands, cons, higher_is_better=higher)
        return rank(split.passed, priorities, higher), split

    scored, split = run_once(constraints)
    sens = Sensitivity(top=scored[0].system if scored else None)
    sens.changes = weight_changes(scored, priorities) + constraint_changes(
        run_once, constraints, scored, split, higher)
    near = closest(split, constraints)
    sens.closest = near.as_dict() if near else None
    order = {c.system: i for i, c in enumerate(cands)}
    excluded = sorted((Excluded(c, vs) for c, vs in split.excluded),
                      key=lambda e: (e.candidate.evidence, order[e.candidate.system]))
    notes = []
    if any(c.kind == "reported" for c in cands):
        notes.append("reported scores are published figures, often on another protocol "
                     "(BERT's SST-2 score is after fine-tuning); systems measured on your data "
                     "rank above them, and those above systems of unknown quality")
    return Recommendation(
        task=board.task, dataset=board.dataset, metric=board.metric, higher_is_better=higher,
        priorities=priorities, constraints=constraints, volume=volume,
        ranked=[Ranked(s, reasons(s.candidate, volume)) for s in scored], excluded=excluded,
        sensitivity=sens, cost_model=_cost_model(cands, volume), run_id=run_id, notes=notes)
