"""Will a model fit? Memory for weights plus KV cache, against this machine's free RAM
or a named accelerator configuration.

The estimate (GB = 10^9 bytes throughout)::

    weights  = params × bytes/param        fp32 4, fp16/bf16 2, int8/fp8 1,
                                            q4 0.5625 (4 bits + one fp16 scale per 32)
    KV cache = 2 (K and V) × layers × kv_heads × head_dim × context × batch × kv_bytes
               kv_bytes = 4 for fp32 weights, else 2 (fp16 cache, the llama.cpp/vLLM default)
               encoders keep no KV cache; sliding-window layers (Gemma 3) cache at most
               the window
    overhead = 10% of (weights + KV cache) + 0.5 GB   activations, runtime buffers,
                                                      allocator slack
    total    = weights + KV cache + overhead

A multi-GPU configuration counts its memory together (tensor parallelism splits weights
and KV cache across devices). Accelerator capacities are the nominal figures of their
spec sheets, read as GB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from lmscape.errors import ConfigError, LmscapeError, NotFoundError

if TYPE_CHECKING:
    from lmscape.catalog.schema import ModelEntry

GB = 1e9
PRECISION_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "q4": 0.5625,
}
SUGGEST_PRECISIONS = ("fp16", "int8", "q4")
OVERHEAD_FRACTION = 0.10
OVERHEAD_FIXED_BYTES = 0.5 * GB
DEFAULT_CONTEXT = 4096
HOST = "this-machine"


@dataclass(frozen=True)
class Accelerator:
    """A memory budget: ``count`` devices of ``memory_gb`` each."""

    name: str
    memory_gb: float
    count: int
    label: str

    @property
    def total_bytes(self) -> float:
        return self.memory_gb * GB * self.count

    @property
    def total_gb(self) -> float:
        return self.memory_gb * self.count


def _acc(name: str, gb: float, count: int, label: str) -> tuple[str, Accelerator]:
    return name, Accelerator(name, gb, count, label)


# Ordered by total memory (ties: the first listed wins); `suggest` picks the first that fits.
ACCELERATORS: dict[str, Accelerator] = dict(
    [
        _acc("l4-24gb", 24, 1, "NVIDIA L4 24 GB"),
        _acc("rtx-4090-24gb", 24, 1, "NVIDIA GeForce RTX 4090 24 GB"),
        _acc("a100-40gb", 40, 1, "NVIDIA A100 40 GB"),
        _acc("a100-80gb", 80, 1, "NVIDIA A100 80 GB"),
        _acc("h100-80gb", 80, 1, "NVIDIA H100 80 GB"),
        _acc("h200-141gb", 141, 1, "NVIDIA H200 141 GB"),
        _acc("2x-h100", 80, 2, "2 × NVIDIA H100 80 GB"),
        _acc("4x-h100", 80, 4, "4 × NVIDIA H100 80 GB"),
        _acc("8x-h100", 80, 8, "8 × NVIDIA H100 80 GB (one node)"),
        _acc("8x-a100-80gb", 80, 8, "8 × NVIDIA A100 80 GB (one node)"),
        _acc("8x-h200", 141, 8, "8 × NVIDIA H200 141 GB (one node)"),
        _acc("16x-h100", 80, 16, "16 × NVIDIA H100 80 GB (two nodes)"),
    ]
)


def host_target() -> Accelerator:
    """This machine's currently available RAM (psutil), as a target."""
    import psutil

    free = psutil.virtual_memory().available
    return Accelerator(HOST, free / GB, 1, "this machine's available RAM")


def get_target(name: str | None) -> Accelerator:
    """A named accelerator config, or this machine when ``name`` is None/"this-machine"."""
    if name is None or name.lower() in (HOST, "host", "cpu"):
        return host_target()
    key = name.lower()
    if key in ACCELERATORS:
        return ACCELERATORS[key]
    raise NotFoundError(
        "accelerator",
        name,
        [*ACCELERATORS, HOST],
        hint="pick one of: " + ", ".join(ACCELERATORS),
    )


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed to serve ``model_id`` at ``precision``; ``formula`` shows the working."""

    model_id: str
    precision: str
    context: int
    batch: int
    weights_bytes: float
    kv_bytes: float
    overhead_bytes: float
    total_bytes: float
    formula: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return asdict(self) | {"notes": list(self.notes)}


def _gb(n: float) -> str:
    gb = n / GB
    return f"{gb:,.3f} GB" if gb < 1 else f"{gb:,.2f} GB"


def _check_precision(precision: str) -> str:
    key = precision.lower()
    if key not in PRECISION_BYTES:
        raise ConfigError(
            f"unknown precision {precision!r}",
            hint="use one of: " + ", ".join(PRECISION_BYTES),
        )
    return key


def kv_cache_bytes(entry: ModelEntry, context: int, batch: int, kv_bytes: float) -> float:
    """2 × layers × kv_heads × head_dim × context × batch × kv_bytes (0 for encoders)."""
    arch = entry.arch
    if arch is None or arch.kind == "encoder":
        return 0.0
    per_token_layer = 2 * arch.effective_kv_heads * arch.effective_head_dim * kv_bytes * batch
    if arch.sliding_window and arch.global_layers is not None:
        local = arch.layers - arch.global_layers
        tokens = arch.global_layers * context + local * min(context, arch.sliding_window)
    else:
        tokens = arch.layers * context
    return per_token_layer * tokens


def estimate_memory(
    entry: ModelEntry,
    precision: str = "fp16",
    context: int | None = None,
    batch: int = 1,
) -> MemoryEstimate:
    """Weights + KV cache + overhead for ``entry`` (see the module docstring)."""
    precision = _check_precision(precision)
    if entry.params is None:
        raise LmscapeError(
            f"{entry.id} has no published parameter count, so its memory cannot be estimated",
            hint="closed models run on the provider's servers; see `lmscape models show "
            f"{entry.id}`",
        )
    if batch < 1:
        raise ConfigError(f"batch must be at least 1, got {batch}", hint="pass --batch 1 or more")
    window = entry.context_window
    if context is None:
        context = min(window, DEFAULT_CONTEXT) if window else DEFAULT_CONTEXT
    if context < 1:
        raise ConfigError(f"context must be at least 1, got {context}", hint="pass --context N")
    notes: list[str] = []
    if window and context > window:
        notes.append(f"context {context:,} is beyond the model's {window:,}-token window")

    bpp = PRECISION_BYTES[precision]
    kv_b = 4.0 if precision == "fp32" else 2.0
    weights = entry.params * bpp
    kv = kv_cache_bytes(entry, context, batch, kv_b)
    overhead = OVERHEAD_FRACTION * (weights + kv) + OVERHEAD_FIXED_BYTES
    total = weights + kv + overhead

    lines = [f"weights  = {entry.params:,} params × {bpp:g} B ({precision}) = {_gb(weights)}"]
    arch = entry.arch
    if arch is None:
        notes.append("KV cache not counted: the catalog has no layer/head facts for this model")
        lines.append("KV cache = not counted (no architecture facts)")
    elif arch.kind == "encoder":
        notes.append("encoders keep no KV cache")
        lines.append("KV cache = 0 (encoder)")
    elif arch.sliding_window and arch.global_layers is not None:
        local = arch.layers - arch.global_layers
        lines.append(
            f"KV cache = 2 × {arch.effective_kv_heads} kv_heads × {arch.effective_head_dim} "
            f"head_dim × ({arch.global_layers} global layers × {context:,} + {local} local "
            f"layers × {min(context, arch.sliding_window):,}) tokens × batch {batch} × "
            f"{kv_b:g} B = {_gb(kv)}"
        )
    else:
        lines.append(
            f"KV cache = 2 × {arch.layers} layers × {arch.effective_kv_heads} kv_heads × "
            f"{arch.effective_head_dim} head_dim × {context:,} context × batch {batch} × "
            f"{kv_b:g} B = {_gb(kv)}"
        )
    lines.append(
        f"overhead = {OVERHEAD_FRACTION:.0%} × (weights + KV) + {_gb(OVERHEAD_FIXED_BYTES)} "
        f"= {_gb(overhead)}"
    )
    lines.append(f"total    = {_gb(total)}")
    return MemoryEstimate(
        model_id=entry.id,
        precision=precision,
        context=context,
        batch=batch,
        weights_bytes=weights,
        kv_bytes=kv,
        overhead_bytes=overhead,
        total_bytes=total,
        formula="\n".join(lines),
        notes=tuple(notes),
    )


def fits(estimate: MemoryEstimate, target: Accelerator | str | None) -> bool:
    """Whether the estimate fits the target's memory (all its devices together)."""
    if not isinstance(target, Accelerator):
        target = get_target(target)
    return estimate.total_bytes <= target.total_bytes


def smallest_fit(estimate: MemoryEstimate) -> Accelerator | None:
    """The listed accelerator config with the least total memory that fits, if any."""
    ranked = sorted(ACCELERATORS.values(), key=lambda a: (a.total_bytes, a.count))
    return next((a for a in ranked if fits(estimate, a)), None)


def suggest(
    entry: ModelEntry, context: int | None = None, batch: int = 1
) -> list[tuple[Accelerator, str]]:
    """For each of fp16, int8 and q4: the smallest listed config that fits, if any."""
    out: list[tuple[Accelerator, str]] = []
    for precision in SUGGEST_PRECISIONS:
        target = smallest_fit(estimate_memory(entry, precision, context, batch))
        if target is not None:
            out.append((target, precision))
    return out


def precisions_that_fit(
    entry: ModelEntry, target: Accelerator, context: int | None = None, batch: int = 1
) -> list[str]:
    """Which of fp32, fp16, int8, q4 fit ``target``, largest first."""
    return [
        p
        for p in ("fp32", "fp16", "int8", "q4")
        if fits(estimate_memory(entry, p, context, batch), target)
    ]
