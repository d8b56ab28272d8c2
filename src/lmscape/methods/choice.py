"""Zero- and few-shot choice scoring by loglikelihood (local models with logprobs).

For each item and each label, the backend scores the label's verbalizer (" positive",
" negative") as a continuation of ``prefix + query``; the label with the highest
log-probability wins. Requests go to the backend as one batch.

Few-shot examples are drawn **once from the train split** (never from the evaluated
split) with a fixed seed, balanced across labels (k / n_labels each), then shuffled
with the same seed. Every item gets the **same prefix string** (instruction + shots);
only the query at the end differs, so backends that reuse the KV cache of a shared
prefix (llama.cpp) evaluate the shots once.

Calibration (binary label sets, on by default): small models prefer one verbalizer
whatever the input. ``train`` scores ``n_calib`` (200) seeded train items that are not
shots and sets the decision threshold on logprob(positive) − logprob(negative) that
maximises their accuracy (ties: the threshold nearest 0). Only train items are used.
The threshold is saved under ``$LMSCAPE_HOME/calibration/``, keyed by model, task
version, prefix and the calibration items, so later runs reuse it.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import numpy as np

from lmscape.backends.base import LoglikelihoodRequest
from lmscape.config import load_settings
from lmscape.methods._util import need_model, sum_timings, sum_usage
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item

MAX_SHOT_CHARS = 160  # keep the shared prefix short; shots are chosen before any scoring


def draw_shots(train: list[Item], labels: tuple[str, ...], k: int, seed: int,
               max_chars: int = MAX_SHOT_CHARS) -> list[Item]:
    """``k`` balanced examples from ``train`` (seeded), in a seeded order."""
    if k == 0:
        return []
    if k % len(labels):
        raise ValueError(f"k={k} is not a multiple of the {len(labels)} labels")
    rng = random.Random(seed)
    shots: list[Item] = []
    for label in labels:
        pool = [it for it in train if it.reference == label and len(it.text) <= max_chars]
        shots.extend(rng.sample(pool, k // len(labels)))
    rng.shuffle(shots)
    return shots


def best_threshold(diffs: np.ndarray, positive: np.ndarray) -> float:
    """The threshold t maximising accuracy of ``diffs > t``; ties go to the t nearest 0."""
    values = np.unique(diffs)
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2,
                                 [values[0] - 1.0, values[-1] + 1.0]])
    accuracy = np.array([np.mean((diffs > t) == positive) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best]))]])


class ZeroShotChoice(Method):
    """Score each label's verbalizer after a zero-shot prompt."""

    name = "zero-shot-choice"
    default_k = 0
    preferred_batch_size = 32
    learns_from_items = False  # a few shots and one threshold from the train split

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        prompts = task.prompts
        default_k = prompts.get("few_shot_k", 4) if self.default_k else 0
        self.k = int(params.get("k", default_k))
        self.seed = int(params.get("seed", prompts.get("few_shot_seed", 7)))
        self.calibrate = bool(params.get("calibrate", True)) and len(task.labels or ()) == 2
        self.n_calib = int(params.get("n_calib", 200))
        self.threshold: float | None = None  # on logprob(labels[1]) - logprob(labels[0])
        self.calibration: dict[str, Any] = {}
        self._prefix: str | None = None
        self._shot_ids: set[str] = set()

    def cache_params(self) -> dict[str, Any]:
        return {"k": self.k, "seed": self.seed, "calibrate": self.calibrate,
                "n_calib": self.n_calib if self.calibrate else None}

    def _train_items(self) -> list[Item]:
        if not self.task.train_split:
            raise ValueError(f"task {self.task.name} has no train split for shots")
        return list(self.task.items(self.task.train_split))

    def _build_prefix(self, train: list[Item] | None) -> str:
        p = self.task.prompts
        shots: list[Item] = []
        if self.k:
            shots = draw_shots(train if train is not None else self._train_items(),
                               tuple(self.task.labels), self.k, self.seed)
        self._shot_ids = {s.id for s in shots}
        return p.get("choice_instruction", "") + "".join(
            p["choice_shot"].format(text=s.text, label=s.reference) for s in shots
        )

    @property
    def prefix(self) -> str:
        """Instruction plus shots: identical for every item."""
        if self._prefix is None:
            self._prefix = self._build_prefix(None)
        return self._prefix

    # -- calibration (train items only) ----------------------------------------------
    def train(self, train_items: list[Item]) -> None:
        if self._prefix is None:
            self._prefix = self._build_prefix(train_items)
        if not self.calibrate or self.threshold is not None:
            return
        pool = sorted((it for it in train_items if it.id not in self._shot_ids),
                      key=lambda it: it.id)
        calib = random.Random(self.seed + 1).sample(pool, min(self.n_calib, len(pool)))
        path = self._calibration_path(calib)
        if path.exists():
            self.calibration = json.loads(path.read_text())
            self.threshold = float(self.calibration["threshold"])
            return
        diffs = np.array([self._diff(p) for p in self._score(calib)])
        labels = tuple(self.task.labels)
        y = np.array([it.reference == labels[1] for it in calib])
        self.threshold = best_threshold(diffs, y)
        self.calibration = {"threshold": self.threshold, "n": len(calib),
                            "accuracy_at_0": float(np.mean((diffs > 0) == y)),
                            "accuracy_at_threshold": float(np.mean((diffs > self.threshold) == y))}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.calibration))

    def _calibration_path(self, calib: list[Item]):
        key = json.dumps({"model": getattr(self.model, "model_id", ""), "task": self.task.name,
                          "version": self.task.version, "prefix": self.prefix,
                          "items": [it.id for it in calib]}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return load_settings().home / "calibration" / f"{self.name}-{digest}.json"

    def _ensure_fitted(self) -> None:
        if self.calibrate and self.threshold is None:
            self.train(self._train_items())

    def _diff(self, prediction: Prediction) -> float:
        lo, hi = self.task.labels
        lp = prediction.extra["logprobs"]
        return lp[hi] - lp[lo]

    def context(self, item: Item) -> str:
        return self.prefix + self.task.prompts["choice_query"].format(text=item.text)

    def predict(self, items: list[Item]) -> list[Prediction]:
        self._ensure_fitted()
        predictions = self._score(items)
        if self.threshold is not None:
            lo, hi = self.task.labels
            for p in predictions:
                p.output = hi if self._diff(p) > self.threshold else lo
                p.extra["threshold"] = self.threshold
        return predictions

    def _score(self, items: list[Item]) -> list[Prediction]:
        """Uncalibrated predictions: the label with the highest log-probability."""
        model = need_model(self.model, self.name)
        labels = tuple(self.task.labels)
        verbalizers = self.task.prompts["choice_verbalizers"]
        requests = [
            LoglikelihoodRequest(context=self.context(item), continuation=verbalizers[label])
            for item in items
            for label in labels
        ]
        results = model.loglikelihood(requests)
        predictions = []
        for i, _ in enumerate(items):
            rs = results[i * len(labels) : (i + 1) * len(labels)]
            logprobs = {label: r.logprob for label, r in zip(labels, rs, strict=True)}
            best = max(labels, key=lambda lab: logprobs[lab])
            predictions.append(Prediction(
                output=best,
                usage=sum_usage(r.usage for r in rs),
                timings=sum_timings([r.timings for r in rs]),
                extra={"logprobs": logprobs},
            ))
        return predictions


class FewShotChoice(ZeroShotChoice):
    """Choice scoring after k balanced shots from the train split (default k=4)."""

    name = "few-shot-choice"
    default_k = 4
