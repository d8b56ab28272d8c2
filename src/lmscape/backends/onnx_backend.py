"""The ``onnx`` backend: models exported by ``lmscape export --onnx`` on onnxruntime.

An export folder holds ``model.onnx`` (fp32 or dynamically quantised int8), the
tokenizer files and ``lmscape_onnx.json``:

| key       | meaning                                                             |
|-----------|---------------------------------------------------------------------|
| ``kind``  | ``classifier`` (``classify``, ``embed``) or ``tagger`` (``tag``, ``embed``) |
| ``labels``| class or tag names, in output column order                          |
| ``inputs``| the graph's input names (``input_ids``, ``attention_mask``[, ``token_type_ids``]) |
| ``max_length`` | tokens per text (tagger: per window)                           |
| ``head``  | optional linear head on the pooled embedding (SetFit-style students) |

The graph's outputs are ``logits`` (absent with a ``head``) and ``last_hidden_state``;
embeddings are its mean over the attention mask, normalised. Inputs are batched
(``batch_size``) by similar length, as in the ``hf`` backend, and results come back in
the caller's order. ``threads`` sets onnxruntime's intra-op threads (default: all cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from lmscape.backends.base import Backend, ClassifyResult, EmbedResult, TagResult, Timings, Usage
from lmscape.backends.hf_common import length_batches
from lmscape.backends.locate import locate
from lmscape.backends.tagging import DEFAULT_STRIDE, encode_windows, softmax, words_from_windows
from lmscape.config import default_threads
from lmscape.errors import ConfigError, ModelLoadError, require

META_FILE = "lmscape_onnx.json"
MODEL_FILE = "model.onnx"


class OnnxBackend(Backend):
    """onnxruntime on the CPU; flags follow the exported model's kind."""

    name = "onnx"
    is_local = True
    can_embed = True
    requires = ("onnxruntime", "transformers")
    extra = "distill"

    @classmethod
    def capabilities_for(cls, model: str, options: dict[str, Any]) -> frozenset[str]:
        """From the export's ``lmscape_onnx.json`` (read, not loaded)."""
        try:
            path = locate(model)
            folder = path.parent if path.suffix == ".onnx" else path
            kind = json.loads((folder / META_FILE).read_text())["kind"]
        except Exception:  # noqa: BLE001 - not here (yet): only what every export can do
            return frozenset({"can_embed"})
        extra = {"classifier": "can_classify", "tagger": "can_tag"}.get(kind)
        return frozenset({"can_embed", *([extra] if extra else [])})

    def __init__(self, model: str, *, model_id: str = "", batch_size: int = 32,
                 threads: int | None = None, normalize: bool = True) -> None:
        ort = require("onnxruntime", extra="distill")
        if batch_size < 1:
            raise ConfigError("batch_size must be >= 1", hint="pass batch_size=1 or more")
        self.path = locate(model)
        if self.path.is_file() and self.path.suffix == ".onnx":
            self.path = self.path.parent
        meta_file = self.path / META_FILE
        if not meta_file.exists() or not (self.path / MODEL_FILE).exists():
            raise ModelLoadError(f"{self.path} is not an lmscape ONNX export "
                                 f"(no {META_FILE} / {MODEL_FILE})",
                                 hint="create one with `lmscape export MODEL --onnx`")
        self.meta = json.loads(meta_file.read_text())
        self.kind = self.meta["kind"]
        self.labels = [str(x) for x in self.meta["labels"]]
        self.max_length = int(self.meta["max_length"])
        self.model_id = model_id or str(model)
        self.batch_size, self.normalize = batch_size, normalize
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or default_threads())
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path / MODEL_FILE), options,
                                            providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        head = self.meta.get("head")
        self.head = None if head is None else (np.asarray(head["weight"], dtype=np.float64),
                                               np.asarray(head["bias"], dtype=np.float64))

    @property
    def can_classify(self) -> bool:  # type: ignore[override]
        return self.kind == "classifier"

    @property
    def can_tag(self) -> bool:  # type: ignore[override]
        return self.kind == "tagger"

    # -- running the graph -----------------------------------------------------------
    def _run(self, features: dict[str, list[list[int]]], idx: list[int]
             ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rows = {k: [features[k][i] for i in idx] for k in features if k in self.inputs}
        padded = self.tokenizer.pad(rows, return_tensors="np")
        feeds = {k: np.asarray(padded[k], dtype=np.int64) for k in self.inputs}
        outs = dict(zip(self.outputs, self.session.run(None, feeds), strict=True))
        return outs, feeds["attention_mask"]

    def _encode(self, texts: list[str]) -> dict[str, list[list[int]]]:
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        return {k: [list(v) for v in enc[k]] for k in enc}

    @staticmethod
    def _pool(hidden: np.ndarray, mask: np.ndarray, normalize: bool) -> np.ndarray:
        w = mask[..., None].astype(np.float32)
        pooled = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
        if normalize:
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32)

    def _logits(self, outs: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        if self.head is None:
            return outs["logits"].astype(np.float64)
        pooled = self._pool(outs["last_hidden_state"], mask, bool(self.meta["head"]["normalize"]))
        weight, bias = self.head
        return pooled.astype(np.float64) @ weight.T + bias

    # -- operations ------------------------------------------------------------------
    def _classify(self, texts: list[str]) -> list[ClassifyResult]:
        if not texts:
            return []
        features = self._encode(texts)
        lengths = [len(x) for x in features["input_ids"]]
        probs = np.zeros((len(texts), len(self.labels)))
        seconds = np.zeros(len(texts))
        for idx in length_batches(lengths, self.batch_size):
            start = time.perf_counter()
            outs, mask = self._run(features, idx)
            probs[idx] = softmax(self._logits(outs, mask))
            seconds[idx] = (time.perf_counter() - start) / len(idx)
        return [ClassifyResult(probs={lab: float(p) for lab, p in zip(self.labels, row,
                                                                       strict=True)},
                               label=self.labels[int(row.argmax())],
                               timings=Timings(total_s=float(secs)))
                for row, secs in zip(probs, seconds, strict=True)]

    def _embed(self, texts: list[str]) -> EmbedResult:
        start = time.perf_counter()
        features = self._encode(texts)
        lengths = [len(x) for x in features["input_ids"]]
        dim = None
        out: np.ndarray | None = None
        for idx in length_batches(lengths, self.batch_size):
            outs, mask = self._run(features, idx)
            pooled = self._pool(outs["last_hidden_state"], mask, self.normalize)
            if out is None:
                dim = pooled.shape[1]
                out = np.zeros((len(texts), dim), dtype=np.float32)
            out[idx] = pooled
        if out is None:
            out = np.zeros((0, 0), dtype=np.float32)
        return EmbedResult(vectors=out, usage=Usage(prompt_tokens=sum(lengths)),
                           timings=Timings(total_s=time.perf_counter() - start))

    def _tag(self, texts: list[str]) -> list[TagResult]:
        if not texts:
            return []
        start = time.perf_counter()
        windows = encode_windows(self.tokenizer, texts, self.max_length,
                                 int(self.meta.get("stride", DEFAULT_STRIDE)))
        probs: list[np.ndarray] = [np.zeros(0)] * len(windows.owner)
        for idx in length_batches(windows.lengths, self.batch_size):
            outs, _ = self._run(windows.features, idx)
            p = softmax(outs["logits"].astype(np.float32))
            for j, i in enumerate(idx):
                probs[i] = p[j, : windows.lengths[i]]
        per_text = (time.perf_counter() - start) / len(texts)
        return [TagResult(spans=spans, labels=tuple(self.labels), probs=word_probs,
                          timings=Timings(total_s=per_text))
                for spans, word_probs in words_from_windows(windows, probs)]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def context_length(self) -> int | None:
        return self.max_length

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(kind=self.kind, path=str(self.path),
                   size_bytes=sum(f.stat().st_size for f in Path(self.path).rglob("*")
                                  if f.is_file()),
                   quantization=self.meta.get("quantization"), can_classify=self.can_classify,
                   can_tag=self.can_tag)
        return out

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OnnxBackend({str(self.path)!r}, kind={self.kind!r})"
