"""Lexicon baseline: VADER (Hutto & Gilbert 2014) compound score >= 0 → positive.

No model and no training; runs anywhere ``vaderSentiment`` is installed.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from lmscape.backends.base import Timings
from lmscape.errors import require
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item


class Vader(Method):
    """VADER compound polarity with a threshold (default 0.0)."""

    name = "vader"
    needs_model = False
    library = "vaderSentiment"
    preferred_batch_size = 256

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        self.threshold = float(params.get("threshold", 0.0))

    def cache_params(self) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @cached_property
    def analyzer(self):
        module = require("vaderSentiment.vaderSentiment", package="vaderSentiment", extra="bench")
        return module.SentimentIntensityAnalyzer()

    def predict(self, items: list[Item]) -> list[Prediction]:
        out = []
        for item in items:
            start = time.perf_counter()
            compound = self.analyzer.polarity_scores(item.text)["compound"]
            label = "positive" if compound >= self.threshold else "negative"
            out.append(Prediction(output=label, extra={"compound": compound},
                                  timings=Timings(total_s=time.perf_counter() - start)))
        return out
