"""Fine-tuned models that answer a task directly (distilled students, any HF fine-tune).

- sentiment: the model's ``classify`` (a ``*ForSequenceClassification`` through the
  ``hf`` backend, or its ONNX export through the ``onnx`` backend); the model's labels
  are mapped onto the task's (case-insensitive, the task's aliases).
- keywords: the model's ``tag`` (BIO token classification). Every span of up to
  ``max_words`` words is scored by the probability that it is exactly one keyphrase:
  P(B at its first word) × Π P(I at its other words) × (1 − P(I at the next word)),
  taken per word (geometric mean; ``scoring=span`` keeps the product). Spans are
  ranked by score, the same phrase (stemmed, as the metric matches) is kept
  once at its best score, and the top ``top_n`` are returned. Confidence ranks the
  list, so F1@k can cut it anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from lmscape.backends.base import ClassifyResult, TagResult, Timings
from lmscape.errors import ConfigError
from lmscape.methods._util import need_model, precision_params
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item

BEGIN, INSIDE, OUTSIDE = "B-KP", "I-KP", "O"


def model_fingerprint(model: Any) -> str | None:
    """Size and modification time of the model's files: a model re-trained under the same
    name gets new cache keys, so bench never serves the old model's answers."""
    try:
        path = model.info().get("path")
    except Exception:  # noqa: BLE001 - a backend without info() has no fingerprint
        return None
    if not path:
        return None
    from pathlib import Path

    files = [f for f in Path(path).rglob("*") if f.is_file()]
    return ",".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in sorted(files)
                    if f.suffix in (".safetensors", ".onnx", ".json", ".bin"))


class FineTunedClassify(Method):
    """A sequence classifier's own label. On a CPU that multiplies bfloat16 natively the
    classifier's matrix products run in bf16 (``autocast="auto"``; a model's own
    ``options:`` win): a distilled MiniLM student then labels SST-2 about 2.9x faster,
    with the same labels on SST-2 dev (benchmarks/distill.py)."""

    name = "fine-tuned"
    preferred_batch_size = 64
    backend_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {"hf": {"autocast": "auto"}}

    def cache_params(self) -> dict[str, Any]:
        # bf16 products can move a probability
        return {**self.params, "model_files": model_fingerprint(self.model),
                **precision_params(self.model)}

    def _task_label(self, label: str) -> str | None:
        normalize = getattr(self.task, "normalize_label", None)
        if normalize is not None:
            return normalize(label)
        return label if label in (self.task.labels or ()) else None

    def _check(self, result: ClassifyResult) -> None:
        unknown = [lab for lab in result.probs if self._task_label(lab) is None]
        if unknown:
            raise ConfigError(
                f"the model's labels {', '.join(unknown)} are not labels of task "
                f"{self.task.name!r} ({', '.join(self.task.labels or ())})",
                hint="use a classifier fine-tuned on this task's labels",
            )

    def predict(self, items: list[Item]) -> list[Prediction]:
        model = need_model(self.model, self.name)
        results = model.classify([it.text for it in items])
        out = []
        for result in results:
            self._check(result)
            probs = {self._task_label(k): float(v) for k, v in result.probs.items()}
            out.append(Prediction(output=self._task_label(result.label),
                                  timings=Timings(total_s=result.timings.total_s),
                                  extra={"probs": probs}))
        return out


def span_scores(probs: np.ndarray, labels: tuple[str, ...], max_words: int
                ) -> list[tuple[float, int, int]]:
    """(log score, first word, last word) of every span of up to ``max_words`` words."""
    if probs.shape[0] == 0:
        return []
    col = {lab: i for i, lab in enumerate(labels)}
    if BEGIN not in col or INSIDE not in col:
        raise ConfigError(f"the tagger's labels {labels} have no {BEGIN}/{INSIDE}",
                          hint="use a BIO keyphrase tagger (labels O, B-KP, I-KP)")
    eps = 1e-9
    log_b = np.log(probs[:, col[BEGIN]] + eps)
    log_i = np.log(probs[:, col[INSIDE]] + eps)
    log_not_i = np.log(np.clip(1.0 - probs[:, col[INSIDE]], eps, 1.0))
    n = probs.shape[0]
    out = []
    for first in range(n):
        inside = 0.0
        for last in range(first, min(n, first + max_words)):
            if last > first:
                inside += log_i[last]
            end = log_not_i[last + 1] if last + 1 < n else 0.0
            out.append((float(log_b[first] + inside + end), first, last))
    return out


SCORINGS = ("per-word", "span")


def ranked_phrases(text: str, result: TagResult, top_n: int, max_words: int = 8,
                   scoring: str = "per-word") -> list[tuple[str, float]]:
    """The ``top_n`` best distinct phrases of ``text`` with their scores.

    ``span``: the probability that the span is exactly one keyphrase. ``per-word``
    (default): its geometric mean per word, so a long phrase is not ranked below a
    short one merely for having more factors (Inspec dev F1@10 0.445 against 0.402 for
    the trained MiniLM tagger; chosen on dev, never on test_public).
    """
    from lmscape.metrics.keyphrase import normalize

    if scoring not in SCORINGS:
        raise ConfigError(f"scoring={scoring!r} is not one of {', '.join(SCORINGS)}",
                          hint="use scoring=per-word or scoring=span")
    probs = np.asarray(result.probs, dtype=np.float64)
    best: dict[str, tuple[float, str]] = {}
    for score, first, last in span_scores(probs, tuple(result.labels), max_words):
        phrase = text[result.spans[first][0] : result.spans[last][1]].strip()
        key = normalize(phrase)
        if not key:
            continue
        if scoring == "per-word":
            score /= last - first + 1
        if key not in best or score > best[key][0]:
            best[key] = (score, phrase)
    ranked = sorted(best.values(), key=lambda sp: -sp[0])[:top_n]
    return [(phrase, float(np.exp(score))) for score, phrase in ranked]


class FineTunedKeyphrases(Method):
    """Keyphrases from a BIO token tagger, ranked by span probability."""

    name = "fine-tuned"
    preferred_batch_size = 16

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        self.top_n = int(params.get("top_n", getattr(task, "top_n", 10)))
        self.max_words = int(params.get("max_words", 8))
        self.scoring = str(params.get("scoring", "per-word"))
        if self.scoring not in SCORINGS:
            raise ConfigError(f"scoring={self.scoring!r} is not one of {', '.join(SCORINGS)}",
                              hint="use scoring=per-word or scoring=span")

    def cache_params(self) -> dict[str, Any]:
        return {"top_n": self.top_n, "max_words": self.max_words, "scoring": self.scoring,
                "model_files": model_fingerprint(self.model)}

    def predict(self, items: list[Item]) -> list[Prediction]:
        model = need_model(self.model, self.name)
        results = model.tag([it.text for it in items])
        out = []
        for item, result in zip(items, results, strict=True):
            ranked = ranked_phrases(item.text, result, self.top_n, self.max_words,
                                    self.scoring)
            out.append(Prediction(output=[p for p, _ in ranked],
                                  timings=Timings(total_s=result.timings.total_s),
                                  extra={"confidence": [round(s, 6) for _, s in ranked]}))
        return out
