"""One line of reasons per system, in the terms people choose by: quality, cost at the
volume, latency, data control, openness and licence, vendor dependency, resources
needed, carbon. Each short phrase says where its figure comes from (measured here,
reported by a source, a `fit` estimate, or unknown); how costs were worked out is
stated once for the whole answer (``Recommendation.cost_model``)."""

from __future__ import annotations

from lmscape.decide.candidates import MEASURED, REPORTED, Candidate
from lmscape.decide.inputs import Volume
from lmscape.report import fmt

SEPARATOR = " · "


def _quality(c: Candidate) -> str:
    row = c.row
    if c.kind == MEASURED:
        ci = (f" [{row.low:.3f}, {row.high:.3f}]"
              if row.low is not None and row.high is not None else "")
        return f"{c.metric} {c.quality:.3f}{ci} measured on {row.n} items"
    if c.kind == REPORTED:
        setting = f"{row.setting}; " if row.setting else ""
        return f"{c.metric} {c.quality:.3f} reported on {row.benchmark} ({setting}{row.source})"
    return "quality unknown" + (f": measure it with `{c.bench_command}`"
                                if c.bench_command else "")


def _cost(c: Candidate, volume: Volume | None) -> str:
    if c.cost is None:
        return f"cost unknown ({c.cost_note or 'no list price'})"
    if volume is None:
        how = "machine time" if c.hosting is not None else "per call"
        return f"{fmt.usd(c.cost)} per 1k items ({how})"
    how = "reserved machines" if c.hosting is not None else "per call"
    if c.hosting is not None and c.hosting.capacity:
        how = f"{c.hosting.machines(volume.per_month)} reserved machine(s)"
    return f"{fmt.usd(c.monthly_usd)}/month at {volume.text} ({fmt.usd(c.cost)} per 1k, {how})"


def _latency(c: Candidate) -> str:
    if c.latency_p95_s is None:
        return "latency not measured"
    return f"p95 {fmt.seconds(c.latency_p95_s)}"


def _data(c: Candidate) -> str:
    if c.data_local:
        return "data stays on your machines"
    return f"data goes to {c.developer or 'the provider'}"


def _openness(c: Candidate) -> str:
    if c.access == "no model":
        return f"no model; code {c.licence.describe()}"
    weights = "open weights" if c.access == "open-weight" else "closed weights"
    return f"{weights}, {c.licence.describe()}"


def _vendor(c: Candidate) -> str:
    if c.access == "closed":
        return f"tied to one vendor ({c.developer})"
    return "no vendor lock-in"


def _resources(c: Candidate) -> str:
    if not c.data_local and c.access != "open-weight":
        return "runs on the provider's hardware"
    if c.memory_bytes is None:
        return "memory unknown"
    if c.kind == MEASURED:
        return f"{fmt.size(c.memory_bytes)} RAM measured, CPU only"
    entry = c.entry
    text = f"~{c.memory_bytes / 1e9:.2f} GB at fp16 (fit estimate)"
    if entry is not None and entry.params is not None:
        from lmscape.catalog.hardware import suggest

        options = suggest(entry, 512)
        if options:
            text += f", fits {options[0][0].name}"
    return text


def _carbon(c: Candidate) -> str:
    if c.gco2e_per_1k is None:
        return "carbon unknown"
    return f"{fmt.grams(c.gco2e_per_1k)} CO2e per 1k (estimate)"


def reasons(c: Candidate, volume: Volume | None) -> list[str]:
    return [_quality(c), _cost(c, volume), _latency(c), _data(c), _openness(c), _vendor(c),
            _resources(c), _carbon(c)]


def line(parts: list[str]) -> str:
    return SEPARATOR.join(parts)
