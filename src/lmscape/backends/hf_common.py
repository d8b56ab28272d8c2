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
