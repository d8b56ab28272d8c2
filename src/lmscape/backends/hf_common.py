"""Helpers shared by the ``hf`` backend and its engines (``hf_causal``, ``hf_encoder``).

They live below all three modules so that the engines never import the backend that
loads them. torch and transformers are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lmscape.errors import ConfigError


def length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def load_pretrained(path: Path, auto_model: Any, *, device: str, dtype: Any,
                    trust_remote_code: bool) -> tuple[Any, Any]:
    """(tokenizer, ``auto_model`` on ``device`` in eval mode) from a local directory."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        path, local_files_only=True, trust_remote_code=trust_remote_code
    )
    model = auto_model.from_pretrained(
        path, dtype=dtype, local_files_only=True, trust_remote_code=trust_remote_code
    ).to(device)
    model.eval()
    return tokenizer, model


AUTOCASTS = ("auto", "bfloat16", "off")


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX tiles); without
    them oneDNN emulates bf16 and it is no faster than float32."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def pick_autocast(autocast: Any, device: str, dtype: Any) -> Any:
    """The dtype an encoder's matrix products run in (``torch.autocast``), or None: as
    loaded. ``"auto"``: bfloat16 for float32 weights on a CPU that multiplies bf16
    natively (linear layers and attention in bf16, accumulating in float32; layer norms,
    pooling and the vectors returned stay float32), else None. ``"bfloat16"`` asks for it anywhere on CPU; ``"off"``: never."""
    import torch

    if autocast in (None, False, "off"):
        return None
    if autocast not in AUTOCASTS:
        raise ConfigError(f"autocast={autocast!r} is not one of {', '.join(AUTOCASTS)}",
                          hint="use autocast='auto', 'bfloat16' or 'off'")
    if device != "cpu" or dtype != torch.float32:
        return None
    if autocast == "auto" and not native_bf16():
        return None
    return torch.bfloat16


def pick_device(device: str | None) -> str:
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"device={device!r} but torch sees no CUDA GPU",
                hint="pass device='cpu' (or leave device unset to pick one)",
            )
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: Any, device: str) -> Any:
    """A torch dtype (float32 on CPU unless asked otherwise) or "auto"."""
    import torch

    if dtype is None:
        return torch.float32 if device == "cpu" else "auto"
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    named = getattr(torch, str(dtype), None)
    if not isinstance(named, torch.dtype):
        raise ConfigError(
            f"unknown dtype {dtype!r}", hint="use float32, float16, bfloat16 or auto"
        )
    return named
