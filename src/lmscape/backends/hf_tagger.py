"""Token classification engine for the ``hf`` backend (``*ForTokenClassification``).

``tag(texts)`` returns, for each text, its words' character spans and tag
probabilities (softmax over ``id2label``), long texts cut into overlapping windows
(see :mod:`lmscape.backends.tagging`). ``embed`` pools the base encoder's last hidden
state, as the classifier engine does.

Imported by :class:`lmscape.backends.hf.HFBackend` only, so torch loads with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmscape.backends.base import EmbedResult, TagResult, Timings, Usage
from lmscape.backends.hf_common import length_batches, load_pretrained
from lmscape.backends.hf_encoder import (
    _check_pooling,
    _model_max_length,
    _n_params,
    _pooled_vectors,
    _Tokenized,
)
from lmscape.backends.tagging import DEFAULT_STRIDE, encode_windows, words_from_windows


class TaggerEngine:
    """A ``*ForTokenClassification`` model: per-word tag probabilities and embeddings."""

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
        stride: int = DEFAULT_STRIDE,
    ) -> None:
        from transformers import AutoModelForTokenClassification

        _check_pooling(pooling)
        self.device, self.batch_size, self.pooling, self.stride = device, batch_size, pooling, stride
        self.tokenizer, self.model = load_pretrained(
            path, AutoModelForTokenClassification, device=device, dtype=dtype,
            trust_remote_code=trust_remote_code,
        )
        config = self.model.config
        self.labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))
        self.context_length = _model_max_length(self.tokenizer, config, max_length) or 512

    def n_parameters(self) -> int:
        return _n_params(self.model)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def tag(self, texts: list[str]) -> list[TagResult]:
        if not texts:
            return []
        start = time.perf_counter()
        windows = encode_windows(self.tokenizer, texts, self.context_length, self.stride)
        probs: list[np.ndarray] = [np.zeros(0)] * len(windows.owner)
        with torch.inference_mode():
            for idx in length_batches(windows.lengths, self.batch_size):
                rows = {k: [v[i] for i in idx] for k, v in windows.features.items()}
                batch = self.tokenizer.pad(rows, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                p = torch.softmax(self.model(**batch).logits.float(), -1).cpu().numpy()
                for j, i in enumerate(idx):
                    probs[i] = p[j, : windows.lengths[i]]
        per_text = (time.perf_counter() - start) / len(texts)
        return [TagResult(spans=spans, labels=self.labels, probs=word_probs,
                          timings=Timings(total_s=per_text))
                for spans, word_probs in words_from_windows(windows, probs)]

    def embed(self, texts: list[str], *, normalize: bool) -> EmbedResult:
        start = time.perf_counter()
        tok = _Tokenized(self.tokenizer, texts, self.context_length)
        out = _pooled_vectors(
            tok, int(self.model.config.hidden_size),
            lambda batch: self.model(**batch, output_hidden_states=True).hidden_states[-1],
            device=self.device, batch_size=self.batch_size, pooling=self.pooling,
            normalize=normalize,
        )
        return EmbedResult(vectors=out, usage=Usage(prompt_tokens=sum(tok.lengths)),
                           timings=Timings(total_s=time.perf_counter() - start))
