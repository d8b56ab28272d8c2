"""Statistical keyphrase baseline: YAKE! (Campos et al. 2020), unsupervised, no model.

Defaults: English, n-grams up to 3, de-duplication threshold 0.9, the task's top_n.
YAKE scores are "lower is more important"; the output is ranked that way.
"""

from __future__ import annotations

import time
from typing import Any

from lmscape.backends.base import Timings
from lmscape.errors import require
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item


class Yake(Method):
    """YAKE! keyphrases."""

    name = "yake"
    needs_model = False
    library = "yake"
    preferred_batch_size = 64

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        self.top_n = int(params.get("top_n", getattr(task, "top_n", 10)))
        self.max_ngram = int(params.get("max_ngram", 3))
        self.dedup = float(params.get("dedup", 0.9))
        yake = require("yake", extra="bench")
        self.extractor = yake.KeywordExtractor(lan="en", n=self.max_ngram,
                                               dedupLim=self.dedup, top=self.top_n)

    def cache_params(self) -> dict[str, Any]:
        return {"top_n": self.top_n, "max_ngram": self.max_ngram, "dedup": self.dedup}

    def predict(self, items: list[Item]) -> list[Prediction]:
        out = []
        for item in items:
            start = time.perf_counter()
            ranked = self.extractor.extract_keywords(item.text)  # [(phrase, score)], best first
            out.append(Prediction(output=[phrase for phrase, _ in ranked][: self.top_n],
                                  timings=Timings(total_s=time.perf_counter() - start)))
        return out
