"""Read runs and per-item results back from the store; build leaderboards.

A leaderboard is per task and dataset: for every system, its latest finished run on
that dataset (*measured* rows), plus *reported* rows from the catalog (published scores
on the same dataset, with source and setting, and list prices) — kept in separate
lists so they are never ranked together.

A board carries every metric its rows have (:class:`BoardMetric`: name and direction),
primary first. Its *headline* metrics are the primary one plus, in the task's metric
order, each metric that some row needs to show any quality at all (dialogue: ``chrf``
for systems that reply, ``perplexity`` ↓ for systems that only score the reference).
Measured rows are ranked by the first headline metric they have: first every row with
the primary metric, then the rest, metric by metric (``rank`` restarts at 1 in each
group; ``rank_metric`` names the metric of the group).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lmscape.backends.resolve import price_of
from lmscape.errors import NotFoundError
from lmscape.store.db import Store
from lmscape.store.schema import results as results_table
from lmscape.store.schema import runs as runs_table


@dataclass(kw_only=True)
class RunRecord:
    id: str
    system: str
    model: str | None
    method: str
    task: str
    task_version: str
    dataset: str
    params: dict[str, Any]
    machine: dict[str, Any]
    status: str
    n_items: int | None
    summary: dict[str, Any] | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def n_stored(self) -> int:
        return int((self.summary or {}).get("n", 0))


def list_runs(store: Store, *, task: str | None = None, status: str | None = None
              ) -> list[RunRecord]:
    """Runs, newest first."""
    query = sa.select(runs_table).order_by(runs_table.c.started_at.desc())
    if task:
        query = query.where(runs_table.c.task == task)
    if status:
        query = query.where(runs_table.c.status == status)
    with store.connect() as conn:
        return [RunRecord(**dict(row)) for row in conn.execute(query).mappings()]


def stored_counts(store: Store) -> dict[str, int]:
    """Items stored per run id (for runs that are still running or failed)."""
    query = sa.select(results_table.c.run_id, sa.func.count()).group_by(results_table.c.run_id)
    with store.connect() as conn:
        return {run_id: n for run_id, n in conn.execute(query)}


def item_scores(store: Store, run_id: str) -> dict[str, dict[str, float]]:
    """Per-item metric values of one run (items that errored are left out)."""
    query = (sa.select(results_table.c.item_id, results_table.c.scores)
             .where(results_table.c.run_id == run_id)
             .where(results_table.c.error.is_(None)))
    with store.connect() as conn:
        return {item_id: scores or {} for item_id, scores in conn.execute(query)}


# -- leaderboards -------------------------------------------------------------------------
@dataclass(kw_only=True)
class BoardRow:
    """One leaderboard row. ``kind`` is "measured" (lmscape ran it) or "reported"."""

    kind: str
    system: str
    model: str | None
    metric: str
    quality: float | None
    low: float | None = None
    high: float | None = None
    n: int | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    ttft_p50_s: float | None = None
    tokens_per_s: float | None = None
    items_per_s: float | None = None
    peak_rss_bytes: int | None = None
    rss_added_bytes: int | None = None  # memory the system added (load + train + predict)
    model_size_bytes: int | None = None
    cost_usd_per_1k: float | None = None
    cost_basis: str | None = None
    gco2e_per_1k: float | None = None
    kwh_per_1k: float | None = None
    run_id: str | None = None
    machine: dict[str, Any] | None = None
    finished_at: str | None = None
    n_errors: int = 0
    prompt_tokens_mean: float | None = None
    completion_tokens_mean: float | None = None
    load_s: float | None = None  # building the system in its latest run (model load)
    train_s: float | None = None  # training / calibration in its latest run
    predict_s: float | None = None  # the method's own time over the stored items
    member_share: dict[str, float] | None = None  # routed systems: who answered how much
    rank: int | None = None  # within ``rank_metric``'s group; None: not ranked
    rank_metric: str | None = None
    # reported rows only
    source: str | None = None
    setting: str | None = None
    benchmark: str | None = None
    as_of: str | None = None
    access: str | None = None
    size_class: str | None = None
    memory_estimate_bytes: float | None = None  # catalog estimate (fp16 weights + overhead)
    memory_basis: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # name -> {value, low, high, n}

    def value(self, metric: str) -> float | None:
        return (self.metrics.get(metric) or {}).get("value")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, kw_only=True)
class BoardMetric:
    name: str
    higher_is_better: bool = True
    primary: bool = False

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def label(self) -> str:
        return f"{self.name} {self.arrow}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "higher_is_better": self.higher_is_better,
                "primary": self.primary}


@dataclass(kw_only=True)
class Leaderboard:
    task: str
    dataset: str
    metric: str
    higher_is_better: bool
    measured: list[BoardRow]
    reported: list[BoardRow]
    energy_method: str | None = None
    machines: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[BoardMetric] = field(default_factory=list)  # primary first
    headline: list[str] = field(default_factory=list)  # the metrics every view shows

    def metric_info(self, name: str) -> BoardMetric:
        for m in self.metrics:
            if m.name == name:
                return m
        return BoardMetric(name=name, higher_is_better=self.higher_is_better
                           if name == self.metric else True, primary=name == self.metric)

    @property
    def headline_metrics(self) -> list[BoardMetric]:
        return [self.metric_info(name) for name in self.headline or [self.metric]]

    def find(self, system: str) -> BoardRow:
        for row in self.measured:
            if row.system == system:
                return row
        raise NotFoundError(f"system in the {self.task} leaderboard", system,
                            [r.system for r in self.measured],
                            hint="run `lmscape runs` to see what was measured")

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "dataset": self.dataset, "metric": self.metric,
            "higher_is_better": self.higher_is_better, "energy_method": self.energy_method,
            "machines": self.machines, "metrics": [m.as_dict() for m in self.metrics],
            "headline": self.headline,
            "measured": [r.as_dict() for r in self.measured],
            "reported": [r.as_dict() for r in self.reported],
        }


def _measured_row(run: RunRecord) -> BoardRow:
    s = run.summary or {}
    metric = s.get("primary_metric") or ""
    m = (s.get("metrics") or {}).get(metric) or {}
    energy = s.get("energy") or {}
    return BoardRow(
        kind="measured", system=run.system, model=run.model, metric=metric,
        quality=m.get("value"), low=m.get("low"), high=m.get("high"), n=s.get("n"),
        latency_p50_s=s.get("latency_p50_s"), latency_p95_s=s.get("latency_p95_s"),
        ttft_p50_s=s.get("ttft_p50_s"), tokens_per_s=s.get("tokens_per_s"),
        items_per_s=s.get("items_per_s"), peak_rss_bytes=s.get("peak_rss_bytes"),
        rss_added_bytes=s.get("rss_added_bytes"),
        model_size_bytes=s.get("model_size_bytes"), cost_usd_per_1k=s.get("cost_usd_per_1k"),
        cost_basis=s.get("cost_basis"), gco2e_per_1k=energy.get("gco2e_per_1k"),
        kwh_per_1k=energy.get("kwh_per_1k"), run_id=run.id, machine=run.machine,
        finished_at=run.finished_at.isoformat() if run.finished_at else None,
        n_errors=int(s.get("n_errors") or 0), metrics=s.get("metrics") or {},
        prompt_tokens_mean=s.get("prompt_tokens_mean"),
        completion_tokens_mean=s.get("completion_tokens_mean"),
        load_s=s.get("load_s"), train_s=s.get("train_s", s.get("fit_s")), predict_s=s.get("wall_s"),
        member_share=s.get("member_share"),
    )


def _sort_key(row: BoardRow, higher: bool) -> tuple[int, float]:
    if row.quality is None:
        return (1, 0.0)
    return (0, -row.quality if higher else row.quality)


def board_metrics(task: str, runs: list[RunRecord]) -> list[BoardMetric]:
    """Every metric the runs have, primary first, then in the task's order; each with
    its direction (from the summaries; for runs stored before summaries recorded it,
    from the task)."""
    summaries = [r.summary or {} for r in runs]
    primary = next((s.get("primary_metric") for s in summaries if s.get("primary_metric")), "")
    higher = bool(summaries[0].get("higher_is_better", True)) if summaries else True
    order: list[str] = [primary] if primary else []
    lower: set[str] = set()
    known = False
    for s in summaries:
        order += s.get("metric_order") or []
        if "lower_is_better" in s:
            known = True
            lower.update(s["lower_is_better"])
    if not known:
        lower |= _task_lower_is_better(task)
    for s in summaries:
        order += list(s.get("metrics") or {})
    present = {name for s in summaries for name in (s.get("metrics") or {})}
    return [BoardMetric(name=name, primary=name == primary,
                        higher_is_better=higher if name == primary else name not in lower)
            for name in dict.fromkeys(order) if name == primary or name in present]


def _task_lower_is_better(task: str) -> set[str]:
    try:
        from lmscape.tasks.registry import get_task

        return set(getattr(get_task(task), "lower_is_better", ()) or ())
    except Exception:  # noqa: BLE001 - a task from a plugin or a removed task
        return set()


def headline_metrics(metrics: list[BoardMetric], rows: list[BoardRow]) -> list[str]:
    """The primary metric, and each further metric (in order) that some row needs to
    show any quality at all."""
    names = [m.name for m in metrics]
    shown = names[:1]
    for name in names[1:]:
        if any(row.value(name) is not None and all(row.value(s) is None for s in shown)
               for row in rows):
            shown.append(name)
    return shown


def rank_rows(rows: list[BoardRow], metrics: list[BoardMetric]) -> list[BoardRow]:
    """Rows grouped by the first of ``metrics`` they have, each group best first;
    ``rank`` counts within the group. Rows with none of them come last, unranked."""
    groups: list[list[BoardRow]] = [[] for _ in metrics]
    rest: list[BoardRow] = []
    for row in rows:
        i = next((i for i, m in enumerate(metrics) if row.value(m.name) is not None), None)
        (rest if i is None else groups[i]).append(row)
    out: list[BoardRow] = []
    for metric, group in zip(metrics, groups, strict=True):
        sign = -1.0 if metric.higher_is_better else 1.0
        group.sort(key=lambda r, m=metric.name: (sign * (r.value(m) or 0.0), r.system))
        for rank, row in enumerate(group, 1):
            row.rank, row.rank_metric = rank, metric.name
        out += group
    for row in sorted(rest, key=lambda r: r.system):
        row.rank, row.rank_metric = None, None
        out.append(row)
    return out


def latest_runs(store: Store, task: str, dataset: str | None = None) -> list[RunRecord]:
    """The latest finished run of every system on ``dataset`` (default: the dataset of
    the task's most recent finished run)."""
    done = [r for r in list_runs(store, task=task, status="done") if r.summary]
    if not done:
        return []
    if dataset is None:
        dataset = max(done, key=lambda r: r.finished_at or r.started_at).dataset
    latest: dict[str, RunRecord] = {}
    for run in done:
        if run.dataset != dataset:
            continue
        current = latest.get(run.system)
        if current is None or (run.finished_at or run.started_at) > (
                current.finished_at or current.started_at):
            latest[run.system] = run
    return list(latest.values())


def distinct_machines(machines: Iterable[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The machine descriptions without repeats or blanks, in first-seen order."""
    out: list[dict[str, Any]] = []
    for machine in machines:
        if machine and machine not in out:
            out.append(machine)
    return out


def tasks_with_runs(store: Store) -> list[str]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(runs_table.c.task).where(runs_table.c.status == "done")
                            .distinct().order_by(runs_table.c.task))
        return [r[0] for r in rows]


def leaderboard(store: Store, task: str, dataset: str | None = None, *,
                with_reported: bool = True, catalog: Any = None) -> Leaderboard:
    """``catalog``: the :class:`~lmscape.catalog.Catalog` for the reported rows (default:
    ``load_catalog()``, i.e. the built-in one plus ``$LMSCAPE_HOME/catalog.yaml``)."""
    runs = latest_runs(store, task, dataset)
    if not runs:
        raise NotFoundError("task with finished runs", task, tasks_with_runs(store),
                            hint=f"run `lmscape bench --task {task}` first")
    summary = runs[0].summary or {}
    metric = summary.get("primary_metric") or ""
    higher = bool(summary.get("higher_is_better", True))
    metrics = board_metrics(task, runs)
    rows = [_measured_row(r) for r in runs]
    headline = headline_metrics(metrics, rows)
    info = {m.name: m for m in metrics}
    measured = rank_rows(rows, [info[name] for name in headline])
    energy_method = next((r.summary["energy"]["method"] for r in runs
                          if (r.summary or {}).get("energy")), None)
    machines = distinct_machines(r.machine for r in runs)
    reported = reported_rows(task, metric, measured, catalog) if with_reported else []
    return Leaderboard(task=task, dataset=runs[0].dataset, metric=metric,
                       higher_is_better=higher, measured=measured,
                       reported=sorted(reported, key=lambda r: _sort_key(r, higher)),
                       energy_method=energy_method, machines=machines, metrics=metrics,
                       headline=headline)


# -- reported rows from the catalog --------------------------------------------------------
def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def task_benchmark(task: str) -> str | None:
    """The catalog benchmark id of a task's dataset (``sentiment`` -> ``sst2``)."""
    try:
        from lmscape.tasks.registry import get_task

        definition = getattr(get_task(task), "definition", None)
    except Exception:  # noqa: BLE001 - a task from a plugin or a removed task
        return None
    return getattr(definition, "dataset", None)


def _metric_matches(reported: str, metric: str) -> bool:
    r, m = _norm(reported), _norm(metric)
    return bool(m) and (r == m or r.startswith(m) or m.startswith(r))


def reported_rows(task: str, metric: str, measured: list[BoardRow], catalog: Any = None
                  ) -> list[BoardRow]:
    """Catalog rows for a task: published scores on its dataset, and list prices.

    A model with a published score on the task's dataset gets a row with that score,
    its source and setting. A priced model without one (most closed models) gets a row
    with its list-price cost only, so its price can be weighed against measured systems.
    Cost per 1k items for a reported model is list price x the mean prompt and output
    tokens that measured systems counted on this task (stated in
    ``cost_basis``); without such runs it is left empty.
    """
    benchmark = task_benchmark(task)
    if not benchmark:
        return []
    if catalog is None:
        try:
            from lmscape.catalog import load_catalog

            catalog = load_catalog()
        except Exception:  # noqa: BLE001 - no catalog means no reported rows, not a failure
            return []
    tokens = typical_tokens(measured)
    rows = []
    for entry in catalog:
        score = next((sc for sc in getattr(entry, "scores", []) or []
                      if _norm(sc.benchmark) == _norm(benchmark)
                      and _metric_matches(sc.metric, metric)), None)
        price = getattr(entry, "price", None)
        if score is None and price is None:
            continue
        cost, basis = None, None
        if price is not None and tokens is not None:
            cost = 1000 * price_of(entry).cost_usd(round(tokens[0]), round(tokens[1]))
            basis = (f"list price x {tokens[0]:.0f} prompt + {tokens[1]:.0f} output tokens "
                     f"per item (mean of the measured systems that counted tokens); price: {price.source}")
        memory, memory_basis = _memory_estimate(entry)
        common: dict[str, Any] = {
            "kind": "reported", "system": entry.id, "model": entry.id,
            "access": getattr(entry, "access", None),
            "size_class": getattr(entry, "size_class", None),
            "cost_usd_per_1k": cost, "cost_basis": basis,
            "memory_estimate_bytes": memory, "memory_basis": memory_basis,
        }
        if score is not None:
            rows.append(BoardRow(
                metric=score.metric, quality=score.value, source=score.source,
                metrics={metric: {"value": score.value, "low": None, "high": None, "n": None}},
                setting=score.setting, benchmark=score.benchmark,
                as_of=str(getattr(score, "as_of", "") or ""), **common))
        else:
            rows.append(BoardRow(
                metric=metric, quality=None, source=price.source,
                setting=f"list price only; no published {benchmark} score",
                as_of=str(getattr(price, "as_of", "") or ""), **common))
    return rows


def typical_tokens(measured: list[BoardRow]) -> tuple[float, float] | None:
    """Mean (prompt, output) tokens per item over measured rows that counted tokens."""
    rows = [r for r in measured if r.prompt_tokens_mean]
    if not rows:
        return None
    completion = sum(r.completion_tokens_mean or 0 for r in rows) / len(rows)
    # choice scoring generates nothing; a remote model answering would write >= 1 token
    return (sum(r.prompt_tokens_mean or 0 for r in rows) / len(rows), max(1.0, completion))


def _memory_estimate(entry: Any) -> tuple[float | None, str | None]:
    """The catalog's fp16 serving-memory estimate (512-token context), if it has params."""
    if getattr(entry, "params", None) is None:
        return None, None
    try:
        from lmscape.catalog.hardware import estimate_memory

        est = estimate_memory(entry, "fp16", context=512)
    except Exception:  # noqa: BLE001 - no estimate is not an error here
        return None, None
    return est.total_bytes, "catalog estimate: fp16 weights + KV cache (512 tokens) + overhead"
