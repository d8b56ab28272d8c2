"""How sure a member is of its answer to one item: a number in [0, 1].

| what the prediction carries | confidence |
|---|---|
| ``probs`` (``logreg-head``, distilled classifiers) | the probability of the chosen label |
| ``logprobs`` + ``threshold`` (calibrated binary choice) | ``sigmoid(|margin|)``, margin = logprob difference minus the calibrated threshold |
| ``logprobs`` (choice scoring) | softmax of the label log-probabilities, chosen label |
| a generated reply (``raw``) from a model with loglikelihood | ``exp(mean token logprob)`` of the reply after the prompt |
| several samples (``samples``) | the share of samples that agree with the answer |

A member whose predictions carry none of these cannot be followed by another step:
:func:`require_confidence` says so before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lmscape.backends.base import LoglikelihoodRequest
from lmscape.errors import ConfigError
from lmscape.methods.base import Prediction
from lmscape.tasks.base import Item

# Methods whose predictions carry a confidence (by the table above).
CONFIDENT_METHODS = ("logreg-head", "fine-tuned", "zero-shot-choice", "few-shot-choice",
                     "prompted", "next-turn")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def from_extra(extra: dict[str, Any], output: Any, labels: Sequence[str] | None) -> float | None:
    """Confidence from what a prediction carries, or None if it carries nothing usable."""
    probs = extra.get("probs")
    if isinstance(probs, dict) and probs:
        return float(probs.get(output, max(probs.values())))
    logprobs = extra.get("logprobs")
    if isinstance(logprobs, dict) and logprobs:
        threshold = extra.get("threshold")
        if threshold is not None and labels is not None and len(labels) == 2:
            lo, hi = labels
            margin = logprobs[hi] - logprobs[lo] - float(threshold)
            return _sigmoid(abs(margin))
        top = max(logprobs.values())
        z = sum(math.exp(v - top) for v in logprobs.values())
        chosen = logprobs.get(output, top)
        return math.exp(chosen - top) / z
    samples = extra.get("samples")
    if isinstance(samples, list) and samples:
        return sum(1 for s in samples if s == output) / len(samples)
    mean_lp = extra.get("mean_logprob")
    if mean_lp is not None:
        return math.exp(min(0.0, float(mean_lp)))
    return None


def add_reply_logprobs(model: Any, task: Any, items: Sequence[Item],
                       predictions: Sequence[Prediction]) -> None:
    """Score each generated reply as a continuation of its prompt (one batched
    loglikelihood call) and store ``mean_logprob`` in the prediction's extra."""
    requests, which = [], []
    for i, (item, p) in enumerate(zip(items, predictions, strict=True)):
        raw = p.extra.get("raw")
        if not raw or "mean_logprob" in p.extra:
            continue
        prompts = task.prompts
        context = "".join(s for s in (prompts.get("system", ""),
                                      prompts.get("user", "{text}").format(text=item.text,
                                                                          top_n=10)) if s)
        requests.append(LoglikelihoodRequest(context=context + "\n", continuation=raw))
        which.append(i)
    if not requests:
        return
    for i, r in zip(which, model.loglikelihood(requests), strict=True):
        predictions[i].extra["mean_logprob"] = r.logprob / max(1, r.n_tokens)


def confidences(member: Any, items: Sequence[Item], predictions: Sequence[Prediction]
                ) -> list[float]:
    """One confidence per prediction of ``member`` (a built system)."""
    model = getattr(member.method, "model", None)
    if (any("raw" in p.extra for p in predictions) and model is not None
            and getattr(model, "has_loglikelihood", False)):
        add_reply_logprobs(model, member.method.task, items, predictions)
    labels = member.method.task.labels
    out = []
    for p in predictions:
        c = from_extra(p.extra, p.output, labels)
        if c is None:
            raise ConfigError(f"{member.name} gives no confidence for its answers",
                              hint="put it last in the cascade, or use a method with "
                                   f"probabilities ({', '.join(CONFIDENT_METHODS[:4])})")
        out.append(c)
    return out


def require_confidence(member: Any) -> None:
    """Fail before running if ``member`` can never say how sure it is."""
    method = member.method
    if method.name in ("logreg-head", "fine-tuned", "zero-shot-choice", "few-shot-choice"):
        return
    model = getattr(method, "model", None)
    if method.name in ("prompted", "next-turn") and model is not None and \
            getattr(model, "has_loglikelihood", False):
        return
    raise ConfigError(f"{member.name} gives no confidence, so it cannot hand items on",
                      hint="put it last, or use a member with probabilities or "
                           "loglikelihood (logreg-head, few-shot-choice, a local prompted model)")
