"""Encoder engines for the ``hf`` backend: embeddings and sequence classification.

* sentence-transformers directories embed through ``SentenceTransformer.encode``
  (the model's own pooling and normalisation modules);
* plain encoders (BERT, DistilBERT, TinyBERT, MiniLM) embed by mean pooling the last
  hidden state over the attention mask (or the [CLS] vector with ``pooling="cls"``);
* ``*ForSequenceClassification`` models classify (softmax over ``id2label``, sigmoid
  for multi-label models) and embed through their base encoder.

Imported by :class:`lmscape.backends.hf.HFBackend` only, so torch loads with it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmscape.backends.base import ClassifyResult, EmbedResult, Timings, Usage
from lmscape.backends.hf_common import length_batches, load_pretrained
from lmscape.errors import ConfigError

POOLINGS = ("mean", "cls")


def _n_params(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling={pooling!r} is not one of {POOLINGS}",
                          hint="use pooling='mean' or 'cls'")  # fmt: skip


class _Tokenized:
    """Texts tokenized once (no padding); padded per length-sorted batch."""

    def __init__(self, tokenizer: Any, texts: list[str], max_length: int | None) -> None:
        self.tokenizer = tokenizer
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.features = {k: enc[k] for k in enc}
        self.lengths = [len(ids) for ids in self.features["input_ids"]]

    def batch(self, indices: list[int], device: str) -> dict[str, Any]:
        rows = {k: [v[i] for i in indices] for k, v in self.features.items()}
        padded = self.tokenizer.pad(rows, return_tensors="pt")
        return {k: v.to(device) for k, v in padded.items()}


def _model_max_length(tokenizer: Any, config: Any, max_length: int | None) -> int | None:
    if max_length:
        return max_length
    limit = getattr(config, "max_position_embeddings", None)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if tok_limit and tok_limit < 1_000_000:
        limit = min(limit, tok_limit) if limit else tok_limit
    return limit


def _pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _pooled_vectors(
    tok: _Tokenized, dim: int, hidden_of: Any, *, device: str, batch_size: int,
    pooling: str, normalize: bool,
) -> np.ndarray:
    """Pooled ``hidden_of(batch)`` for every text of ``tok``, in the caller's order."""
    out = np.zeros((len(tok.lengths), dim), dtype=np.float32)
    with torch.inference_mode():
        for idx in length_batches(tok.lengths, batch_size):
            batch = tok.batch(idx, device)
            pooled = _pool(hidden_of(batch).float(), batch["attention_mask"], pooling)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[idx] = pooled.cpu().numpy()
    return out


def precision_context(device: str, autocast: Any) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to ``autocast`` (a torch dtype) on ``device``, or nothing."""
    if autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=autocast)


class EncoderEngine:
    """Embeddings from a sentence-transformers directory or a plain encoder."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        dtype: Any,
        batch_size: int,
        max_length: int | None,
        trust_remote_code: bool,
        pooling: str = "mean",
        autocast: Any = None,
    ) -> None:
        _check_pooling(pooling)
        self.device, self.batch_size, self.pooling = device, batch_size, pooling
        self.autocast = autocast  # a torch dtype for the matrix products, or None
        self.st: Any = None
        if (path / "modules.json").exists():
            from sentence_transformers import SentenceTransformer

            kwargs = {"dtype": dtype} if dtype != "auto" else {}
            self.st = SentenceTransformer(
                str(path),
                device=device,
                local_files_only=True,
                trust_remote_code=trust_remote_code,
                model_kwargs=kwargs,
            )
            if max_length:
                self.st.max_seq_length = max_length
            self.tokenizer = self.st.tokenizer
            self.context_length = self.st.max_seq_length
        else:
            from transformers import AutoModel

            self.tokenizer, self.model = load_pretrained(
                path, AutoModel, device=device, dtype=dtype, trust_remote_code=trust_remote_code
            )
            self.context_length = _model_max_length(self.tokenizer, self.model.config, max_length)

    def n_parameters(self) -> int:
        return _n_params(self.st if self.st is not None else self.model)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def embed(self, texts: list[str], *, normalize: bool) -> EmbedResult:
        start = time.perf_counter()
        if not texts:
            return EmbedResult(vectors=np.zeros((0, self.dimension()), dtype=np.float32))
        if self.st is not None:
            with precision_context(self.device, self.autocast):
                vectors = self.st.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=normalize,
                    convert_to_tensor=True,
                    show_progress_bar=False,
                )
            vectors = vectors.float().cpu().numpy()
            enc = self.tokenizer(texts, truncation=True, max_length=self.context_length)
            n_tokens = sum(len(ids) for ids in enc["input_ids"])
        else:
            with precision_context(self.device, self.autocast):
                vectors, n_tokens = self._embed_plain(texts, normalize)
        return EmbedResult(
            vectors=vectors,
            usage=Usage(prompt_tokens=n_tokens),
            timings=Timings(total_s=time.perf_counter() - start),
        )

    def dimension(self) -> int:
        if self.st is not None:
            return int(self.st.get_sentence_embedding_dimension())
        return int(self.model.config.hidden_size)

    def _embed_plain(self, texts: list[str], normalize: bool) -> tuple[np.ndarray, int]:
        tok = _Tokenized(self.tokenizer, texts, self.context_length)
        out = _pooled_vectors(
            tok, self.dimension(), lambda batch: self.model(**batch).last_hidden_state,
            device=self.device, batch_size=self.batch_size, pooling=self.pooling,
            normalize=normalize,
        )
        return out, sum(tok.lengths)


class ClassifierEngine:
    """A ``*ForSequenceClassification`` model: label probabilities and embeddings."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        dtype: Any,
        batch_size: int,
        max_length: int | None,
        trust_remote_code: bool,
        pooling: str = "mean",
        autocast: Any = None,
    ) -> None:
        from transformers import AutoModelForSequenceClassification

        _check_pooling(pooling)
        self.device, self.batch_size, self.pooling = device, batch_size, pooling
        self.autocast = autocast  # a torch dtype for the matrix products, or None
        self.tokenizer, self.model = load_pretrained(
            path, AutoModelForSequenceClassification, device=device, dtype=dtype,
            trust_remote_code=trust_remote_code,
        )
        config = self.model.config
        self.labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.multi_label = config.problem_type == "multi_label_classification"
        self.context_length = _model_max_length(self.tokenizer, config, max_length)

    def n_parameters(self) -> int:
        return _n_params(self.model)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def classify(self, texts: list[str]) -> list[ClassifyResult]:
        if not texts:
            return []
        tok = _Tokenized(self.tokenizer, texts, self.context_length)
        probs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        seconds = np.zeros(len(texts))
        with torch.inference_mode():
            for idx in length_batches(tok.lengths, self.batch_size):
                start = time.perf_counter()
                with precision_context(self.device, self.autocast):
                    logits = self.model(**tok.batch(idx, self.device)).logits.float()
                p = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, -1)
                probs[idx] = p.cpu().numpy()
                seconds[idx] = (time.perf_counter() - start) / len(idx)
        results = []
        for row, secs in zip(probs, seconds, strict=True):
            dist = {label: float(p) for label, p in zip(self.labels, row, strict=True)}
            results.append(
                ClassifyResult(
                    probs=dist,
                    label=self.labels[int(row.argmax())],
                    timings=Timings(total_s=float(secs)),
                )
            )
        return results

    def embed(self, texts: list[str], *, normalize: bool) -> EmbedResult:
        """Pooled last hidden state of the base encoder (before the classification head)."""
        start = time.perf_counter()
        dim = int(self.model.config.hidden_size if hasattr(self.model.config, "hidden_size")
                  else self.model.config.dim)  # fmt: skip
        tok = _Tokenized(self.tokenizer, texts, self.context_length)
        out = _pooled_vectors(
            tok, dim, lambda batch: self.model(**batch, output_hidden_states=True).hidden_states[-1],
            device=self.device, batch_size=self.batch_size, pooling=self.pooling,
            normalize=normalize,
        )
        return EmbedResult(
            vectors=out,
            usage=Usage(prompt_tokens=sum(tok.lengths)),
            timings=Timings(total_s=time.perf_counter() - start),
        )


HEAD_FILE = "lmscape_head.json"


class HeadClassifierEngine(EncoderEngine):
    """A sentence encoder plus a linear head (``lmscape_head.json``: labels, weight, bias),
    as saved by SetFit-style distillation: softmax(weight · embedding + bias)."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        import json

        super().__init__(path, **kwargs)
        head = json.loads((path / HEAD_FILE).read_text())
        self.labels = [str(label) for label in head["labels"]]
        self.weight = np.asarray(head["weight"], dtype=np.float64)
        self.bias = np.asarray(head["bias"], dtype=np.float64)
        self.head_normalize = bool(head.get("normalize", True))
        if self.weight.shape != (len(self.labels), self.dimension()):
            raise ConfigError(f"{path / HEAD_FILE}: weight shape {self.weight.shape} does not "
                              f"match {len(self.labels)} labels x {self.dimension()} dims",
                              hint="re-run the distillation that wrote it")

    def classify(self, texts: list[str]) -> list[ClassifyResult]:
        if not texts:
            return []
        result = self.embed(texts, normalize=self.head_normalize)
        logits = np.asarray(result.vectors, dtype=np.float64) @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        per_item = result.timings.total_s / len(texts)
        return [ClassifyResult(probs={lab: float(p) for lab, p in zip(self.labels, row,
                                                                       strict=True)},
                               label=self.labels[int(row.argmax())],
                               timings=Timings(total_s=per_item)) for row in probs]
