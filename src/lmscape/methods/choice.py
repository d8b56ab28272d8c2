"""Zero- and few-shot choice scoring by loglikelihood (local models with logprobs).

For each item and each label, the backend scores the label's verbalizer (" positive",
" negative") as a continuation of ``prefix + query``; the label with the highest
log-probability wins. Requests go to the backend as one batch.

Few-shot examples are drawn **once from the train split** (never from the evaluated
split) with a fixed seed, balanced across labels (k / n_labels each), then shuffled
with the same seed. Every item gets the **same prefix string** (instruction + shots);
only the query at the end differs, so backends that reuse the KV cache of a shared
prefix (llama.cpp) evaluate the shots once.
"""

from __future__ import annotations

import random
from typing import Any

from lmscape.backends.base import LoglikelihoodRequest
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


class ZeroShotChoice(Method):
    """Score each label's verbalizer after a zero-shot prompt."""

    name = "zero-shot-choice"
    tasks = ("sentiment",)
    default_k = 0
    preferred_batch_size = 32

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        prompts = task.prompts
        default_k = prompts.get("few_shot_k", 4) if self.default_k else 0
        self.k = int(params.get("k", default_k))
        self.seed = int(params.get("seed", prompts.get("few_shot_seed", 7)))
        self._prefix: str | None = None

    def cache_params(self) -> dict[str, Any]:
        return {"k": self.k, "seed": self.seed}

    @property
    def prefix(self) -> str:
        """Instruction plus shots: identical for every item."""
        if self._prefix is None:
            p = self.task.prompts
            shots: list[Item] = []
            if self.k:
                if not self.task.train_split:
                    raise ValueError(f"task {self.task.name} has no train split for shots")
                train = list(self.task.items(self.task.train_split))
                shots = draw_shots(train, tuple(self.task.labels), self.k, self.seed)
            self._prefix = p.get("choice_instruction", "") + "".join(
                p["choice_shot"].format(text=s.text, label=s.reference) for s in shots
            )
        return self._prefix

    def context(self, item: Item) -> str:
        return self.prefix + self.task.prompts["choice_query"].format(text=item.text)

    def predict(self, items: list[Item]) -> list[Prediction]:
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
