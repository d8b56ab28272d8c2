"""``breakeven()``: the monthly cost of calling each API against hosting each open or
small model, and the volume at which each pair crosses (cost models in ``costing``).

- **APIs**: every priced remote model that is not retired; cost per item = the tokens
  per item measured on this task × its list price (a remote system measured here: its
  own measured cost).
- **Hosting, measured**: every local system measured on this task, on the catalog's
  ``cpu`` machine (the class of machine it was measured on) at its measured throughput.
- **Hosting, reported**: models too big to run here, from the catalog's published
  serving throughputs (``hardware.yaml``): items/s = output tokens/s ÷ output tokens per
  request *of the source's request shape* (the one closest to this task's), so for
  short requests it understates what the hardware serves. For such a model the smallest
  configuration ``fit`` says holds it at the throughput's precision is listed too; a
  configuration with no published throughput (Llama 3.1 405B on 8× H100) gets none
  borrowed from another: its capacity is unknown and only its floor is known.
- ``hosts``: more MODEL@HARDWARE pairs to price (an open-weight catalog model on a priced
  ``fit`` configuration that holds it).

Prices and throughputs come from the catalog (built-in, ``$LMSCAPE_HOME/catalog.yaml``,
``catalog=``): override a hardware entry there to change them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lmscape.bench.results import typical_tokens
from lmscape.decide.candidates import MEASURED, build_candidates, suggest_system
from lmscape.decide.costing import Crossing, PerCall, Reserved, crossing
from lmscape.decide.inputs import VolumeRange, parse_volume_range
from lmscape.errors import ConfigError, DataError, LmscapeError
from lmscape.store.db import Store

DEFAULT_RANGE = "1000..100000000/month"
HOSTING_MODEL = (
    "reserved machines billed by the hour whether busy or not (730 h a month); the first "
    "machine is paid even at zero volume, another is added each time the volume passes what "
    "the machines serve at their throughput")


@dataclass
class Breakeven:
    task: str
    dataset: str
    low: float  # items a month
    high: float
    range_text: str
    apis: list[PerCall]
    hosting: list[Reserved]
    crossings: list[Crossing]
    tokens: tuple[float, float] | None
    hosting_model: str = HOSTING_MODEL
    notes: list[str] = field(default_factory=list)

    def crossing(self, api: str, hosting: str) -> Crossing:
        return next(x for x in self.crossings if x.per_call == api and x.reserved == hosting)

    @property
    def question(self) -> str:
        shape = (f"{self.tokens[0]:.0f} prompt + {self.tokens[1]:.0f} output tokens per item"
                 if self.tokens else "no token counts")
        return (f"monthly cost on {self.task} ({self.dataset}; {shape}) from {self.range_text}: "
                "pay per call, or host?")

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "dataset": self.dataset,
            "volume_per_month": {"low": self.low, "high": self.high},
            "tokens_per_item": list(self.tokens) if self.tokens else None,
            "hosting_model": self.hosting_model,
            "apis": [{"name": a.name, "kind": a.kind, "usd_per_1k": a.usd_per_1k,
                      "basis": a.basis} for a in self.apis],
            "hosting": [{"name": h.name, "kind": h.kind, "hardware": h.hardware,
                         "usd_per_hour": h.usd_per_hour, "items_per_s": h.items_per_s,
                         "capacity_per_month": h.capacity, "floor_usd_per_month": h.floor,
                         "usd_per_1k_full": h.usd_per_1k_full, "basis": h.basis,
                         "price_basis": h.price_basis} for h in self.hosting],
            "crossings": [x.as_dict() for x in self.crossings],
            "notes": self.notes,
        }


def _price_basis(hw: Any) -> str:
    p = hw.price
    count = f"{hw.devices} × ${p.usd_per_device_hour:g}" if hw.devices > 1 else \
        f"${p.usd_per_device_hour:g}"
    return f"{p.provider} {p.offer}: {count}/h ({p.source}, {p.as_of})"


def _shape_distance(t: Any, tokens: tuple[float, float] | None) -> float:
    if tokens is None or not t.input_tokens or not t.output_tokens:
        return 0.0
    return (abs(math.log(t.input_tokens / max(tokens[0], 1.0)))
            + abs(math.log(t.output_tokens / max(tokens[1], 1.0))))


def _reported_option(entry: Any, hw: Any, throughputs: Sequence[Any],
                     tokens: tuple[float, float] | None) -> Reserved:
    best = min(throughputs, key=lambda t: (_shape_distance(t, tokens), -t.output_tokens_per_s))
    per_request = best.output_tokens or 1
    return Reserved(
        name=f"{entry.id}@{hw.id}", hardware=hw.id, usd_per_hour=hw.usd_per_hour,
        items_per_s=best.output_tokens_per_s / per_request, kind="reported",
        price_basis=_price_basis(hw),
        basis=(f"reported: {best.output_tokens_per_s:g} output tok/s at {best.input_tokens} in / "
               f"{best.output_tokens} out ({best.engine}, {best.precision}, {best.setting}; "
               f"{best.source}, {best.as_of}) ÷ {per_request} tokens per request"))


def _fit_only_option(entry: Any, hw: Any, precision: str, note: str) -> Reserved:
    from lmscape.catalog.hardware import estimate_memory

    est = estimate_memory(entry, precision, context=None)
    acc = hw.accelerator
    return Reserved(
        name=f"{entry.id}@{hw.id}", hardware=hw.id, usd_per_hour=hw.usd_per_hour,
        items_per_s=None, kind="reported", price_basis=_price_basis(hw),
        basis=(f"fit: {est.total_bytes / 1e9:,.1f} GB at {precision} ({est.context:,}-token "
               f"context) fits {acc.total_gb:g} GB; {note}"))


def _reported_hosting(catalog: Any, tokens: tuple[float, float] | None) -> list[Reserved]:
    from lmscape.catalog.hardware import estimate_memory, smallest_fit

    out: list[Reserved] = []
    priced = {h.id: h for h in catalog.hardware_entries() if h.usd_per_hour is not None}
    models: dict[str, dict[str, list[Any]]] = {}
    for hw in priced.values():
        for t in hw.throughput:
            models.setdefault(t.model, {}).setdefault(hw.id, []).append(t)
    for model_id, per_hw in models.items():
        try:
            entry = catalog.get(model_id)
        except LmscapeError:
            continue
        precisions = set()
        for hw_id, throughputs in per_hw.items():
            out.append(_reported_option(entry, priced[hw_id], throughputs, tokens))
            precisions.update(t.precision for t in throughputs)
        for precision in sorted(precisions):
            acc = smallest_fit(estimate_memory(entry, precision))
            if acc is None or acc.name in per_hw or acc.name not in priced:
                continue
            have = ", ".join(sorted(per_hw))
            out.append(_fit_only_option(
                entry, priced[acc.name], precision,
                f"no published throughput on {acc.name} in the catalog (it has one on {have}, "
                "not borrowed): capacity unknown"))
    return out


def _host_pair(spec: str, catalog: Any, tokens: tuple[float, float] | None) -> Reserved:
    from lmscape.catalog.hardware import precisions_that_fit

    model_id, sep, hw_name = spec.partition("@")
    if not sep or not model_id or not hw_name:
        raise ConfigError(f"--host {spec!r} is not MODEL@HARDWARE",
                          hint="write e.g. --host llama-3.1-70b@4x-h100")
    entry = catalog.get(model_id.strip())
    hw = catalog.hardware(hw_name.strip())
    if hw.usd_per_hour is None:
        raise ConfigError(f"hardware {hw.id} has no price in the catalog",
                          hint="add a price to its hardware entry in $LMSCAPE_HOME/catalog.yaml")
    if entry.access != "open-weight" or entry.params is None:
        raise ConfigError(f"{entry.id} cannot be hosted: its weights are not published",
                          hint="host an open-weight model (`lmscape models --access open-weight`)")
    if hw.accelerator is None:
        raise ConfigError(f"--host {spec}: {hw.id} has no fit memory budget",
                          hint="host on a GPU configuration `lmscape fit` knows")
    fitting = precisions_that_fit(entry, hw.accelerator)
    if not fitting:
        raise ConfigError(f"{entry.id} does not fit {hw.id} at any precision",
                          hint=f"run `lmscape fit {entry.id}` for configurations that hold it")
    throughputs = hw.throughput_for(entry.id)
    if throughputs:
        return _reported_option(entry, hw, throughputs, tokens)
    return _fit_only_option(entry, hw, fitting[0],
                            "no published throughput for it on this hardware: capacity unknown")


def breakeven(
    task: str | None = None,
    *,
    run: str | None = None,
    volume: str | VolumeRange = DEFAULT_RANGE,
    hosts: Sequence[str] = (),
    store: Store | None = None,
    catalog: Any = None,
) -> Breakeven:
    """Monthly cost per option over ``volume`` (``LOW..HIGH/PERIOD``) and where each
    API/hosting pair crosses. Reads the store and the catalog; runs nothing."""
    from lmscape.decide.recommendation import load_board

    span = volume if isinstance(volume, VolumeRange) else parse_volume_range(volume)
    board, catalog, _ = load_board(task, run, store, catalog)
    name = board.task
    tokens = typical_tokens(board.measured)
    cands = build_candidates(board, catalog)
    apis = sorted((c.per_call for c in cands
                   if c.per_call is not None and not c.data_local and not c.retired),
                  key=lambda a: (a.usd_per_item, a.name))
    hosting = [c.hosting for c in cands
               if c.kind == MEASURED and c.hosting is not None and c.hosting.items_per_s]
    hosting += _reported_hosting(catalog, tokens)
    known = {h.name for h in hosting}
    hosting += [h for h in (_host_pair(s, catalog, tokens) for s in hosts) if h.name not in known]
    if not apis:
        example = suggest_system(name, "smollm2-135m-instruct", None, None)
        raise DataError(
            f"no API can be priced per item on {name}: no measured system counted tokens"
            if tokens is None else f"no priced API in the catalog for {name}",
            hint=f"bench a system that counts tokens first, e.g. `lmscape bench --task {name} "
                 f"--systems {example} --limit 20`")
    notes = []
    if any(h.kind == "reported" for h in hosting):
        notes.append("reported hosting options compare cost only: the hosted model's quality "
                     "on this task is not known here")
    if any(h.kind == MEASURED for h in hosting):
        notes.append("measured throughput is one process on this machine; a hosted service "
                     "batching requests may serve more")
    return Breakeven(
        task=board.task, dataset=board.dataset, low=span.low.per_month, high=span.high.per_month,
        range_text=f"{span.low.text} to {span.high.text}", apis=apis, hosting=hosting,
        crossings=[crossing(a, h) for a in apis for h in hosting], tokens=tokens, notes=notes)
