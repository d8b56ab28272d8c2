"""Token classification helpers shared by every backend that tags words (no torch here).

A document longer than the model's window is cut into overlapping windows
(``max_length`` tokens, ``stride`` tokens shared by neighbours). Each word's tag
probabilities are those of its **first sub-token**, averaged over the windows that
contain that sub-token. Words are the tokenizer's own pre-tokenized words
(``word_ids``), spanning from their first sub-token's start to their last one's end.

Used by the ``hf`` tagger engine, the ``onnx`` backend and distillation's training
data, so the three cut and align text the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_STRIDE = 64


@dataclass
class Windows:
    """The windows of a batch of texts, tokenized once."""

    features: dict[str, list[list[int]]]  # input_ids, attention_mask[, token_type_ids]
    owner: list[int]  # window -> index of its text
    word_ids: list[list[int | None]]  # window -> word index of each token (None: special)
    offsets: list[list[tuple[int, int]]]  # window -> character span of each token
    n_texts: int

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.features["input_ids"]]


def encode_windows(tokenizer: Any, texts: list[str], max_length: int,
                   stride: int = DEFAULT_STRIDE) -> Windows:
    """Tokenize ``texts`` into windows of at most ``max_length`` tokens."""
    stride = max(0, min(stride, max_length // 4))
    enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    n = len(enc["input_ids"])
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return Windows(
        features={k: [list(v) for v in enc[k]] for k in keep},
        owner=[int(i) for i in enc["overflow_to_sample_mapping"]],
        word_ids=[list(enc.word_ids(i)) for i in range(n)],
        offsets=[[tuple(o) for o in enc["offset_mapping"][i]] for i in range(n)],
        n_texts=len(texts),
    )


def first_subtokens(word_ids: list[int | None]) -> list[tuple[int, int]]:
    """(token position, word index) of the first sub-token of each word in a window."""
    out, previous = [], None
    for pos, word in enumerate(word_ids):
        if word is not None and word != previous:
            out.append((pos, word))
        previous = word
    return out


def word_spans(windows: Windows) -> list[dict[int, tuple[int, int]]]:
    """For each text: word index -> character span (first start, last end)."""
    spans: list[dict[int, tuple[int, int]]] = [{} for _ in range(windows.n_texts)]
    for w, text in enumerate(windows.owner):
        for (start, end), word in zip(windows.offsets[w], windows.word_ids[w], strict=True):
            if word is None:
                continue
            old = spans[text].get(word)
            spans[text][word] = (start, end) if old is None else (min(old[0], start),
                                                                  max(old[1], end))
    return spans


def words_from_windows(windows: Windows, window_probs: list[np.ndarray]
                       ) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
    """Per text: (word spans in text order, per-word probabilities (n_words, n_labels))."""
    n_labels = window_probs[0].shape[-1] if window_probs else 0
    sums: list[dict[int, np.ndarray]] = [{} for _ in range(windows.n_texts)]
    counts: list[dict[int, int]] = [{} for _ in range(windows.n_texts)]
    for w, text in enumerate(windows.owner):
        for pos, word in first_subtokens(windows.word_ids[w]):
            row = window_probs[w][pos]
            if word in sums[text]:
                sums[text][word] = sums[text][word] + row
                counts[text][word] += 1
            else:
                sums[text][word] = row.astype(np.float32)
                counts[text][word] = 1
    spans = word_spans(windows)
    out = []
    for text in range(windows.n_texts):
        words = sorted(sums[text])
        probs = (np.stack([sums[text][k] / counts[text][k] for k in words]).astype(np.float32)
                 if words else np.zeros((0, n_labels), dtype=np.float32))
        out.append(([spans[text][k] for k in words], probs))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
