"""Prompted generation for any chat model (local or remote), with robust parsing.

- sentiment: the task's ``system``/``user`` prompts; the reply is parsed with
  :func:`~lmscape.methods.parsing.parse_label` (labels and the task's aliases). An
  unparseable reply gives ``None`` (scored as wrong) and ``extra["parsed"] = False``.
- keywords: the reply is parsed with :func:`~lmscape.methods.parsing.parse_list` and cut
  to the task's ``top_n``.

Greedy decoding (temperature 0) so results are reproducible and cacheable.
"""

from __future__ import annotations

from typing import Any

from lmscape.backends.base import Request
from lmscape.methods._util import need_model
from lmscape.methods.base import Method, Prediction
from lmscape.methods.parsing import parse_label, parse_list
from lmscape.tasks.base import Item


class _Prompted(Method):
    preferred_batch_size = 8

    def __init__(self, task, model=None, **params: Any) -> None:
        super().__init__(task, model, **params)
        self.max_tokens = int(params.get("max_tokens", task.prompts.get("max_tokens", 64)))

    def cache_params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, **self.params}

    def user_prompt(self, item: Item) -> str:
        return self.task.prompts["user"].format(text=item.text)

    def request(self, item: Item) -> Request:
        messages = []
        if self.task.prompts.get("system"):
            messages.append({"role": "system", "content": self.task.prompts["system"]})
        messages.append({"role": "user", "content": self.user_prompt(item)})
        return Request(messages=messages, max_tokens=self.max_tokens, temperature=0.0)

    def parse(self, text: str) -> tuple[Any, bool]:
        raise NotImplementedError

    def predict(self, items: list[Item]) -> list[Prediction]:
        model = need_model(self.model, self.name)
        results = model.generate([self.request(item) for item in items])
        predictions = []
        for r in results:
            output, ok = self.parse(r.text)
            predictions.append(Prediction(output=output, usage=r.usage, timings=r.timings,
                                          extra={"raw": r.text, "parsed": ok}))
        return predictions


class PromptedClassify(_Prompted):
    """Ask for the label; parse it from whatever the model writes."""

    name = "prompted"

    def parse(self, text: str) -> tuple[Any, bool]:
        label = parse_label(text, tuple(self.task.labels),
                            getattr(self.task.definition, "label_aliases", {}))
        return label, label is not None


class PromptedKeywords(_Prompted):
    """Ask for a ranked list of keyphrases; parse lists in any common format."""

    name = "prompted"

    @property
    def top_n(self) -> int:
        return int(self.params.get("top_n", getattr(self.task, "top_n", 10)))

    def user_prompt(self, item: Item) -> str:
        return self.task.prompts["user"].format(text=item.text, top_n=self.top_n)

    def parse(self, text: str) -> tuple[Any, bool]:
        phrases = parse_list(text)[: self.top_n]
        return phrases, bool(phrases)
