"""A small real task and a real classic method for exercising the runner on its own.

The task reads a JSONL file of movie-review sentences; the method is VADER (rule-based,
no model). Both follow the public contracts in ``tasks/base.py`` and ``methods/base.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmscape.backends.base import Timings
from lmscape.methods.base import Method, Prediction
from lmscape.tasks.base import Item, Metric, Task

SENTENCES = [
    ("a gorgeous , witty , seductive movie .", "positive"),
    ("the acting is dreadful and the plot is a mess .", "negative"),
    ("one of the best films of the year .", "positive"),
    ("boring , tedious and far too long .", "negative"),
    ("a charming and heartfelt story .", "positive"),
    ("i hated every minute of it .", "negative"),
    ("an absolute delight from start to finish .", "positive"),
    ("the worst script i have seen in years .", "negative"),
    ("funny , moving and beautifully shot .", "positive"),
    ("a dull , lifeless exercise in cliche .", "negative"),
    ("smart , sharp and surprisingly sweet .", "positive"),
    ("painfully unfunny and badly edited .", "negative"),
]


def write_jsonl(path: Path, n: int = 60) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            text, label = SENTENCES[i % len(SENTENCES)]
            fh.write(json.dumps({"id": f"s{i:03d}", "text": f"{text} ({i})", "label": label}) + "\n")
    return path


class TinySentiment(Task):
    name = "tiny-sentiment"
    version = "1"
    primary_metric = "accuracy"
    labels = ("negative", "positive")
    default_split = "dev"
    train_split = "train"

    def __init__(self, path: Path) -> None:
        self.path = path

    def items(self, split: str | None = None, *, data_file: str | None = None,
              text_col: str | None = None, label_col: str | None = None,
              limit: int | None = None, seed: int = 7) -> Iterator[Item]:
        rows = [json.loads(line) for line in Path(data_file or self.path).read_text().splitlines()]
        if split == "train":
            rows = rows[: len(rows) // 3]
        for row in rows[:limit]:
            yield Item(id=row["id"], text=row["text"], reference=row["label"])

    def score(self, item: Item, output: Any) -> dict[str, float]:
        return {"correct": float(output == item.reference)}

    def aggregate(self, items, outputs, scores) -> dict[str, Metric]:
        n = len(scores)
        acc = sum(s["correct"] for s in scores) / n if n else 0.0
        return {"accuracy": Metric(value=acc, n=n)}


class Vader(Method):
    """VADER compound score; ``threshold`` is tuned by ``fit`` on the train items."""

    name = "vader"
    tasks = ("tiny-sentiment",)
    needs_model = False
    preferred_batch_size = 8

    def __init__(self, task, model=None, **params) -> None:
        super().__init__(task, model, **params)
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()
        self.threshold = 0.0
        self.fitted_on = 0
        self.calls = 0

    def train(self, train_items: list[Item]) -> None:
        self.fitted_on = len(train_items)

    def predict(self, items: list[Item]) -> list[Prediction]:
        self.calls += 1
        out = []
        for item in items:
            start = time.perf_counter()
            score = self.analyzer.polarity_scores(item.text)["compound"]
            label = "positive" if score >= self.threshold else "negative"
            out.append(Prediction(output=label,
                                  timings=Timings(total_s=time.perf_counter() - start)))
        return out


@dataclass
class System:
    name: str
    method: Method
    model_id: str | None = None


def vader_system(task: Task, **params) -> System:
    return System(name="vader", method=Vader(task, **params))


def measure_two_vaders(store: Any) -> None:
    """Store runs of "vader" and "vader-strict" on 60 real SST-2 dev items (``sentiment``)."""
    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    spec = load_spec(task, limit=60)
    for name, threshold in (("vader", 0.0), ("vader-strict", 0.5)):
        method = Vader(task, threshold=threshold)
        method.threshold = threshold
        Runner(store).run(System(name=name, method=method), spec)


# -- every built-in default system name, measured by cheap real methods ----------------
class EchoReply(Method):
    """Dialogue baseline: reply with the partner's last turn (scored by chrF)."""

    name = "echo-reply"
    needs_model = False
    preferred_batch_size = 8

    def predict(self, items: list[Item]) -> list[Prediction]:
        out = []
        for item in items:
            start = time.perf_counter()
            reply = item.meta["turns"][-1]
            out.append(Prediction(output=reply,
                                  timings=Timings(total_s=time.perf_counter() - start)))
        return out


class UnigramPerplexity(Method):
    """Reference log-probability under an add-k unigram model of the context's words
    (a real, weak language model), so the dialogue task aggregates a perplexity."""

    name = "unigram-perplexity"
    needs_model = False
    preferred_batch_size = 8

    def __init__(self, task, model=None, k: float = 1.0, **params) -> None:
        super().__init__(task, model, k=k, **params)
        self.k = k

    def predict(self, items: list[Item]) -> list[Prediction]:
        import math
        from collections import Counter

        out = []
        for item in items:
            start = time.perf_counter()
            context = " ".join(item.meta["turns"]).lower().split()
            reference = str(item.reference).lower().split() or ["."]
            counts = Counter(context)
            vocab = len(set(context) | set(reference))
            logprob = sum(math.log((counts[w] + self.k) / (len(context) + self.k * vocab))
                          for w in reference)
            out.append(Prediction(output={"ref_logprob": logprob, "ref_tokens": len(reference)},
                                  timings=Timings(total_s=time.perf_counter() - start)))
        return out


def _stand_in(task: Task, system_name: str) -> Method:
    """A cheap real method that does the job ``system_name`` does on ``task``."""
    if task.name == "sentiment":
        return Vader(task)
    if task.name.startswith("keywords"):
        from lmscape.methods.yake_method import Yake

        return Yake(task)
    if system_name.endswith("/reference-perplexity"):  # a different smoothing per model
        return UnigramPerplexity(task, k=0.5 if system_name.startswith("gemma") else 1.0)
    return EchoReply(task)


def measure_default_system_names(store: Any, limit: int = 8) -> list[str]:
    """Store one finished run under every built-in default system name of every task
    that has some, on ``limit`` real items; the predictions come from cheap real methods
    (VADER, YAKE, an echo reply, a unigram perplexity), because what is under test is how
    the names and metrics are shown. Returns the task names."""
    from lmscape.bench.runner import Runner
    from lmscape.bench.suite import load_spec
    from lmscape.methods.registry import DEFAULT_SYSTEMS, parse_spec
    from lmscape.tasks.registry import get_task

    tasks = []
    for task_name, names in DEFAULT_SYSTEMS.items():
        if not names:
            continue
        options = {"similarity_model": None} if task_name == "dialogue" else {}
        task = get_task(task_name, **options)
        spec = load_spec(task, limit=limit)
        for name in names:
            model_id, _ = parse_spec(name)
            Runner(store).run(System(name=name, method=_stand_in(task, name),
                                     model_id=model_id), spec)
        tasks.append(task_name)
    return tasks
