"""``router(A,B[,C…])``: choose one member per item from the input alone (RouteLLM style).

The router embeds each input with a small encoder (all-MiniLM-L6-v2 by default, on
CPU) and applies one logistic-regression head per non-last member, trained on that
member's stored bench outcomes on the calibration items: P(member is as good as the
last member on this item). The item goes to the first (cheapest) member whose
probability reaches its step's threshold, else to the last member. Only that member
runs on it; the encoder's time is the router's overhead.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lmscape.backends.resolve import resolve
from lmscape.bench.cost import local_cost_usd
from lmscape.methods.base import Prediction
from lmscape.route.base import ItemTrail, RoutedMethod
from lmscape.route.curve import assign
from lmscape.tasks.base import Item

DEFAULT_ENCODER = "all-minilm-l6-v2"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


class RouterMethod(RoutedMethod):
    name = "router"
    kind = "router"

    def __init__(self, task: Any, members: list[Any], *, encoder: str = DEFAULT_ENCODER,
                 weights: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(task, members, **kw)
        self.encoder_id = encoder
        self.coef = np.asarray(weights["coef"], dtype=float) if weights else None
        self.intercept = np.asarray(weights["intercept"], dtype=float) if weights else None
        self._encoder: Any = None
        self._own_encoder = False

    def cache_params(self) -> dict[str, Any]:
        params = super().cache_params()
        if self.coef is not None:
            params["router"] = float(np.round(self.coef.sum() + self.intercept.sum(), 6))
        return {**params, "encoder": self.encoder_id}

    @property
    def encoder(self) -> Any:
        """The encoder: a member's own model when it is the same one, else loaded here."""
        if self._encoder is None:
            for m in self.members:
                if m.model_id == self.encoder_id and getattr(m.model, "can_embed", False):
                    self._encoder = m.model
                    break
            else:
                self._encoder = resolve(self.encoder_id).load()
                self._own_encoder = True
        return self._encoder

    def embed(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """Embeddings and the wall seconds per text."""
        start = time.perf_counter()
        vectors = np.asarray(self.encoder.embed(texts).vectors, dtype=float)
        return vectors, (time.perf_counter() - start) / max(1, len(texts))

    def chances(self, x: np.ndarray) -> np.ndarray:
        """P(member j is right enough) for each non-last member, shape (n, m-1)."""
        assert self.coef is not None and self.intercept is not None
        return sigmoid(x @ self.coef.T + self.intercept)

    def set_weights(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef, self.intercept = np.asarray(coef, float), np.asarray(intercept, float)

    def close(self) -> None:
        if self._own_encoder and self._encoder is not None:
            self._encoder.close()
        super().close()

    def predict(self, items: list[Item]) -> list[Prediction]:
        self.check_items(items)
        self.ensure_ready()
        assert self.thresholds is not None
        x, embed_wall = self.embed([it.text for it in items])
        p = self.chances(x)
        chosen = assign(p, self.thresholds)
        overhead = local_cost_usd(embed_wall)
        trails = [ItemTrail() for _ in items]
        out: list[Prediction | None] = [None] * len(items)
        for t in trails:
            t.total_s, t.cost = embed_wall, overhead
        for j, member in enumerate(self.members):
            idx = [i for i in range(len(items)) if chosen[i] == j]
            if not idx:
                continue
            preds, _, costs, wall = self.run_member(j, [items[i] for i in idx], confident=False)
            for i, pred, cost in zip(idx, preds, costs, strict=True):
                trails[i].add(member.name, pred, None, cost, wall)
                trails[i].asked[-1]["chances"] = [round(float(v), 4) for v in p[i]]
                why = (f"P(right) {p[i, j]:.3f} >= {self.thresholds[j]:.3f}"
                       if j < len(self.members) - 1 else "no cheaper member likely right")
                out[i] = self.finish(pred.output, member.name, trails[i], why)
        return out  # type: ignore[return-value]
