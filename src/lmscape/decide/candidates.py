"""The systems a decision chooses between, with every fact it weighs.

From one task's leaderboard (the store's latest finished run of each system on one
dataset, and the catalog's reported rows):

- **measured**: a system lmscape ran here, with its quality, latency, cost, memory and
  carbon from the stored summary;
- **reported**: a catalog model with a published score on the task's benchmark (its
  list price where it has one);
- **unknown quality**: a catalog model with a list price but no published score on the
  task's benchmark, and not measured here (closed APIs, mostly). Models with neither a
  score nor a price are left out: there is nothing to weigh.

Where a model runs, what it costs and whether its weights are here come from the
resolver; licence, access, parameters and retirement from the catalog; memory for
models not run here from ``catalog.hardware``'s estimate (the ``fit`` rule).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lmscape.backends.resolve import ResolvedModel, describe, resolve
from lmscape.bench.results import BoardRow, Leaderboard
from lmscape.decide.costing import PerCall, Reserved
from lmscape.decide.licences import Licence, classify, distribution_licence
from lmscape.errors import LmscapeError

MEASURED, REPORTED, UNKNOWN = "measured", "reported", "unknown quality"
EVIDENCE_ORDER = (MEASURED, REPORTED, UNKNOWN)
ESTIMATE_CONTEXT = 512  # tokens, for the memory of models not run here (a short-text task)
HOST_HARDWARE = "cpu"


@dataclass(kw_only=True)
class Candidate:
    """One system and the facts a decision weighs (None: not known)."""

    system: str
    kind: str  # MEASURED | REPORTED | UNKNOWN
    row: BoardRow = field(repr=False)
    model_id: str | None = None  # catalog id
    entry: Any = field(default=None, repr=False)  # catalog ModelEntry
    resolved: ResolvedModel | None = field(default=None, repr=False)
    metric: str = ""
    quality: float | None = None
    usd_per_1k: float | None = None  # per use (as the leaderboard states it)
    cost_basis: str | None = None
    per_call: PerCall | None = None  # priced remote model
    hosting: Reserved | None = None  # local system on a rented machine
    latency_p95_s: float | None = None
    gco2e_per_1k: float | None = None
    memory_bytes: float | None = None
    memory_basis: str | None = None
    data_local: bool = False  # requests never leave machines you run
    access: str = "no model"  # "closed" | "open-weight" | "no model"
    developer: str | None = None
    licence: Licence = field(default_factory=lambda: classify(None))
    retired: str | None = None
    bench_command: str | None = None
    # cost at the volume asked about (see :func:`price_at`); per use when none was given
    cost: float | None = None  # USD per 1,000 items
    monthly_usd: float | None = None
    cost_note: str | None = None

    @property
    def evidence(self) -> int:
        return EVIDENCE_ORDER.index(self.kind)

    @cached_property
    def offline(self) -> tuple[bool, str]:
        """(runs with no network, why not); looks for weights, so only asked when needed."""
        if not self.data_local:
            return False, "calls a remote API"
        if self.resolved is None or not self.resolved.is_local:
            return True, ""  # model-free, or a server on this machine
        return self.resolved.ready()


def task_methods(task: str) -> list[str]:
    from lmscape.methods.registry import list_methods

    return list_methods(task)


def suggest_system(task: str, model_id: str, resolved: ResolvedModel | None, entry: Any
                   ) -> str:
    """A system that would measure ``model_id`` on ``task``: the model with the first
    of the task's methods that its capabilities allow (remote chat models: prompting)."""
    methods = task_methods(task)
    caps = resolved.capabilities if resolved is not None else frozenset()
    arch = getattr(getattr(entry, "arch", None), "kind", None)
    if resolved is not None and not resolved.is_local:
        order = ["prompted", "next-turn"]
    elif "has_loglikelihood" in caps:
        order = ["few-shot-choice", "reference-perplexity", "prompted", "next-turn"]
    elif arch == "encoder" or ("can_embed" in caps and "can_generate" not in caps):
        order = ["logreg-head", "keybert-mmr"]
    else:
        order = ["prompted", "next-turn", "zero-shot-choice"]
    method = next((m for m in order if m in methods), methods[0] if methods else "prompted")
    return f"{model_id}/{method}"


def bench_command(task: str, system: str) -> str:
    return f"lmscape bench --task {task} --systems {system}"


# -- building -------------------------------------------------------------------------------
def _resolve_entry(entry: Any) -> ResolvedModel | None:
    """The resolver's description of a catalog entry (its ``run:`` recipe)."""
    if getattr(entry, "run", None) is None:
        return None
    try:
        return describe(entry.run.backend, entry.run.model, entry.run.options, entry=entry,
                        recipe=entry.run, source="catalog", spec=entry.id)
    except LmscapeError:
        return None


def _data_local(resolved: ResolvedModel | None, fallback: bool) -> bool:
    if resolved is None:
        return fallback
    if resolved.is_local:
        return True
    return bool(resolved.connection is not None and resolved.connection.loopback)


def _entry_of(catalog: Any, resolved: ResolvedModel | None, name: str | None) -> Any:
    if catalog is None:
        return None
    for key in (resolved.model_id if resolved else None, name):
        if key:
            with contextlib.suppress(LmscapeError):
                return catalog.get(key)
    if resolved is not None:
        return catalog.find_by_recipe(resolved.backend, resolved.model)
    return None


def _method_library(task: str, system: str) -> str | None:
    from lmscape.methods.registry import method_class, parse_spec
    from lmscape.tasks.registry import get_task

    _, method = parse_spec(system)
    try:
        return method_class(method, get_task(task)).library
    except (LmscapeError, AttributeError):
        return None


def _entry_facts(entry: Any) -> dict[str, Any]:
    if entry is None:
        return {}
    return {
        "model_id": entry.id, "entry": entry, "access": entry.access,
        "developer": entry.developer, "licence": classify(entry.licence),
        "retired": str(entry.retired) if entry.retired else None,
    }


def _estimate_memory(entry: Any) -> tuple[float | None, str | None]:
    if entry is None or entry.params is None:
        return None, None
    from lmscape.catalog.hardware import estimate_memory

    try:
        est = estimate_memory(entry, "fp16", context=ESTIMATE_CONTEXT)
    except LmscapeError:
        return None, None
    return est.total_bytes, f"fit estimate at fp16, {ESTIMATE_CONTEXT}-token context"


def host_pricing(catalog: Any) -> tuple[float, str]:
    """USD per hour of a machine like the one local systems were measured on: the
    catalog's ``cpu`` entry, else ``LMSCAPE_HARDWARE_USD_PER_HOUR``."""
    with contextlib.suppress(LmscapeError, AttributeError):
        hw = catalog.hardware(HOST_HARDWARE)
        if hw.usd_per_hour is not None:
            return hw.usd_per_hour, (f"{hw.label}: {hw.price.provider} {hw.price.offer}, "
                                     f"${hw.usd_per_hour:g}/h ({hw.price.source}, "
                                     f"{hw.price.as_of})")
    from lmscape.config import load_settings

    rate = load_settings().hardware_usd_per_hour
    return rate, f"this machine at ${rate:g}/h (LMSCAPE_HARDWARE_USD_PER_HOUR)"


def _measured(task: str, row: BoardRow, catalog: Any, host: tuple[float, str]) -> Candidate:
    resolved = None
    if row.model:
        with contextlib.suppress(LmscapeError):
            resolved = resolve(row.model)
    ran_here = (row.cost_basis or "").startswith(("local", "server on this machine"))
    entry = _entry_of(catalog, resolved, row.model)
    facts = _entry_facts(entry)
    if row.model is None:  # a model-free method: its code's licence
        library = _method_library(task, row.system)
        facts["licence"] = classify(distribution_licence(library) if library else None)
    data_local = True if row.model is None else _data_local(resolved, ran_here)
    memory = row.rss_added_bytes if row.rss_added_bytes is not None else row.peak_rss_bytes
    cand = Candidate(
        system=row.system, kind=MEASURED if row.quality is not None else UNKNOWN, row=row,
        resolved=resolved, metric=row.metric, quality=row.quality,
        usd_per_1k=row.cost_usd_per_1k, cost_basis=row.cost_basis,
        latency_p95_s=row.latency_p95_s, gco2e_per_1k=row.gco2e_per_1k,
        memory_bytes=float(memory) if (memory is not None and data_local) else None,
        memory_basis=("measured: memory the system added" if row.rss_added_bytes is not None
                      else "measured: peak RSS") if data_local else None,
        data_local=data_local, **facts,
    )
    if data_local:
        rate, basis = host
        cand.hosting = Reserved(
            name=row.system, hardware=HOST_HARDWARE, usd_per_hour=rate,
            items_per_s=row.items_per_s, kind=MEASURED, price_basis=basis,
            basis=(f"{row.items_per_s:.3g} items/s measured here" if row.items_per_s
                   else "throughput not measured"))
    elif row.cost_usd_per_1k is not None:
        cand.per_call = PerCall(name=row.system, usd_per_item=row.cost_usd_per_1k / 1000,
                                basis=row.cost_basis or "", kind=MEASURED)
    if row.quality is None:
        cand.bench_command = bench_command(task, row.system)
    return cand


def _reported(task: str, row: BoardRow, catalog: Any) -> Candidate:
    entry = _entry_of(catalog, None, row.system)
    resolved = _resolve_entry(entry)
    memory, memory_basis = _estimate_memory(entry)
    data_local = _data_local(resolved, False)
    cand = Candidate(
        system=row.system, kind=REPORTED if row.quality is not None else UNKNOWN, row=row,
        resolved=resolved, metric=row.metric, quality=row.quality,
        usd_per_1k=row.cost_usd_per_1k, cost_basis=row.cost_basis,
        memory_bytes=memory if data_local or (entry and entry.access == "open-weight") else None,
        memory_basis=memory_basis, data_local=data_local, **_entry_facts(entry),
    )
    if row.cost_usd_per_1k is not None:
        price = entry.price if entry is not None else None
        basis = (f"${price.input_per_mtok:g} in / ${price.output_per_mtok:g} out per 1M tokens "
                 f"({price.source})" if price is not None else row.cost_basis or "")
        cand.per_call = PerCall(name=row.system, usd_per_item=row.cost_usd_per_1k / 1000,
                                basis=basis, kind=REPORTED)
    elif entry is not None and entry.price is not None:
        cand.cost_basis = (f"list price ${entry.price.input_per_mtok:g} in / "
                           f"${entry.price.output_per_mtok:g} out per 1M tokens, but no "
                           "measured system on this task counted tokens to price an item")
    elif cand.access == "open-weight":
        cand.cost_basis = "no list price; hosting it is priced by `lmscape breakeven`"
    else:
        cand.cost_basis = "no list price"
    cand.bench_command = bench_command(task, suggest_system(task, row.system, resolved, entry))
    return cand


def build_candidates(board: Leaderboard, catalog: Any) -> list[Candidate]:
    """Measured systems, then the catalog's reported and unknown-quality models."""
    host = host_pricing(catalog)
    out = [_measured(board.task, row, catalog, host) for row in board.measured]
    measured_models = {c.model_id for c in out if c.model_id}
    for row in board.reported:
        if row.quality is None and row.system in measured_models:
            continue  # measured here: its quality is known, the price-only row adds nothing
        out.append(_reported(board.task, row, catalog))
    return out


def price_at(cands: list[Candidate], volume: Any) -> None:
    """Set each candidate's cost (USD per 1k items) at ``volume`` (a
    :class:`~lmscape.decide.inputs.Volume`, or None for the per-use figure): local
    systems on reserved machines, priced remote models per call (see ``costing``)."""
    for c in cands:
        if volume is None:
            c.cost, c.monthly_usd, c.cost_note = c.usd_per_1k, None, c.cost_basis
            continue
        option = c.hosting if c.hosting is not None and c.hosting.capacity else c.per_call
        if option is None:
            c.cost, c.monthly_usd = None, None
            c.cost_note = ("throughput not measured, so hosting cost unknown"
                           if c.hosting is not None else c.cost_basis or "no list price")
            continue
        c.monthly_usd = option.monthly(volume.per_month)
        c.cost = 1000 * c.monthly_usd / volume.per_month
        if isinstance(option, Reserved):
            n = option.machines(volume.per_month)
            c.cost_note = (f"{n} reserved machine{'s' if n > 1 else ''} ({option.price_basis}), "
                           f"busy or not; capacity {option.capacity:,.0f} items/month each "
                           f"({option.basis})")
        else:
            c.cost_note = f"per call: {option.basis}"
