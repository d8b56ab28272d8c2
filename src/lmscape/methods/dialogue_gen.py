"""Dialogue methods: next-turn generation (optionally judged) and reference perplexity.

``next-turn`` (any chat model): the context becomes alternating user/assistant messages
ending with the partner's turn (the task's system prompt first); the model's greedy
reply is the output ``{"reply": ...}``. On ``dialogue`` the reply's embedding
similarity to the human reference is computed here too, with the ``similarity=``
encoder (default: the task's ``similarity_model``, all-MiniLM-L6-v2; ``similarity=none``
skips it), as ``{"embed_sim": cosine}``: it is a step of the system, so the runner
measures its time and closes the encoder with the system. With ``judge=`` (a Backend;
the registry turns a model id into one; ``judge_max_tokens`` bounds its explanation,
default 512) each reply is also graded 1-10 with MT-Bench's ``single-v1`` prompt, the
question being the transcript. On ``mt-bench`` the model answers both questions in
turn (the second with the first exchange in context) and a judge is required.

``reference-perplexity`` (models with loglikelihood): the log-probability of the human
reference reply given the plain transcript ``A: ...\\nB: ...\\nB:``; output
``{"ref_logprob", "ref_tokens"}``; the task aggregates them into corpus perplexity.
"""

from __future__ import annotations

from typing import Any

from lmscape.backends.base import Backend, LoglikelihoodRequest, Request
from lmscape.errors import ConfigError
from lmscape.methods._util import need_model, sum_usage
from lmscape.methods.base import Method, Prediction
from lmscape.methods.judge import JUDGE_MAX_TOKENS, Job, Judge
from lmscape.metrics.text import rowwise_cosine
from lmscape.tasks.base import Item
from lmscape.tasks.dialogue import to_messages


def _switched_off(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("none", "", "false")


class NextTurn(Method):
    """Generate the next turn; optionally grade it with a judge model."""

    name = "next-turn"
    preferred_batch_size = 8
    model_params = ("judge", "similarity")

    @classmethod
    def default_params(cls, task) -> dict[str, Any]:
        """Dialogue replies are compared with the reference by the task's encoder."""
        if task.name == "dialogue":
            return {"similarity": task.options.get("similarity_model")}
        return {}

    def __init__(self, task, model=None, **params: Any) -> None:
        if "similarity" not in params:
            params.update(self.default_params(task))
        if _switched_off(params.get("similarity")):
            params["similarity"] = None
        super().__init__(task, model, **params)
        self.max_tokens = int(params.get("max_tokens", task.prompts.get("max_tokens", 64)))
        similarity = params.get("similarity")
        if similarity is not None and not isinstance(similarity, Backend):
            raise ConfigError("similarity= must be a loaded backend here",
                              hint="pass similarity=MODEL_ID to build_system, which loads it")
        self.similarity: Backend | None = similarity
        judge = params.get("judge")
        if judge is not None and not isinstance(judge, Backend):
            raise ConfigError("judge= must be a loaded backend here",
                              hint="pass judge=MODEL_ID to build_system, which loads it")
        self.judge_max_tokens = int(params.get("judge_max_tokens", JUDGE_MAX_TOKENS))
        self.judge = (Judge(judge, max_tokens=self.judge_max_tokens)
                      if judge is not None else None)
        if task.name == "mt-bench" and self.judge is None:
            raise ConfigError("mt-bench answers are scored by a judge model",
                              hint="pass a judge, e.g. --param judge=gpt-4o "
                              "(or judge=smollm2-135m-instruct offline)")

    def cache_params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens,
                "judge": self.judge.model_id if self.judge else None,
                "judge_max_tokens": self.judge_max_tokens if self.judge else None,
                "similarity": self.similarity.model_id if self.similarity else None}

    def _ask(self, conversations: list[list[str]]) -> list:
        system = self.task.prompts.get("system")
        model = need_model(self.model, self.name)
        return model.generate([
            Request(messages=to_messages(turns, system), max_tokens=self.max_tokens,
                    temperature=0.0)
            for turns in conversations
        ])

    def predict(self, items: list[Item]) -> list[Prediction]:
        if self.task.name == "mt-bench":
            return self._predict_mt_bench(items)
        results = self._ask([list(it.meta["turns"]) for it in items])
        replies = [r.text.strip() for r in results]
        outputs: list[dict[str, Any]] = [{"reply": reply} for reply in replies]
        if self.similarity is not None:
            for out, sim in zip(outputs, self._similarities(items, replies), strict=True):
                out["embed_sim"] = sim
        extras: list[dict[str, Any]] = [{} for _ in items]
        if self.judge is not None:
            question = self.task.prompts["judge_question"]
            verdicts = self.judge.grade([
                Job(questions=[question.format(transcript=it.text)], answers=[reply])
                for it, reply in zip(items, replies, strict=True)
            ])
            for out, extra, v in zip(outputs, extras, verdicts, strict=True):
                out["judge_score"] = v.rating
                extra["judge"] = {"model": self.judge.model_id, "text": v.text}
        return [Prediction(output=o, usage=r.usage, timings=r.timings, extra=e)
                for o, r, e in zip(outputs, results, extras, strict=True)]

    def _similarities(self, items: list[Item], replies: list[str]) -> list[float]:
        """Cosine of each reply's embedding with its reference's, in one batch."""
        assert self.similarity is not None
        texts = [reply or " " for reply in replies] + [str(it.reference) for it in items]
        vectors = self.similarity.embed(texts).vectors
        n = len(items)
        return [float(v) for v in rowwise_cosine(vectors[:n], vectors[n:])]

    def _predict_mt_bench(self, items: list[Item]) -> list[Prediction]:
        first = self._ask([[it.meta["turns"][0]] for it in items])
        a1 = [r.text.strip() for r in first]
        two_turn = [i for i, it in enumerate(items) if len(it.meta["turns"]) > 1]
        second = self._ask([[items[i].meta["turns"][0], a1[i], items[i].meta["turns"][1]]
                            for i in two_turn])
        second_by_item = dict(zip(two_turn, second, strict=True))
        a2: dict[int, str] = {i: r.text.strip() for i, r in second_by_item.items()}
        jobs: list[Job] = []
        where: list[tuple[int, int]] = []
        for i, it in enumerate(items):
            refs = list(it.reference) if it.reference else None
            jobs.append(Job(questions=list(it.meta["turns"][:1]), answers=[a1[i]],
                            references=refs, turn=1))
            where.append((i, 0))
            if i in a2:
                jobs.append(Job(questions=list(it.meta["turns"][:2]), answers=[a1[i], a2[i]],
                                references=refs, turn=2))
                where.append((i, 1))
        verdicts = self.judge.grade(jobs)  # type: ignore[union-attr]
        scores: list[list[float | None]] = [[None] * (2 if i in a2 else 1)
                                            for i in range(len(items))]
        texts: list[list[str]] = [[""] * len(s) for s in scores]
        for (i, t), v in zip(where, verdicts, strict=True):
            scores[i][t] = v.rating
            texts[i][t] = v.text
        preds = []
        for i, _ in enumerate(items):
            answers = [a1[i]] + ([a2[i]] if i in a2 else [])
            calls = [first[i]] + ([second_by_item[i]] if i in second_by_item else [])
            timings = first[i].timings  # TTFT and speed of the first answer, total of both
            timings.total_s = sum(r.timings.total_s for r in calls)
            preds.append(Prediction(
                output={"answers": answers, "judge_scores": scores[i]},
                usage=sum_usage(r.usage for r in calls), timings=timings,
                extra={"judge": {"model": self.judge.model_id, "texts": texts[i]}},  # type: ignore[union-attr]
            ))
        return preds


class ReferencePerplexity(Method):
    """Log-probability of the human reference reply given the transcript."""

    name = "reference-perplexity"
    preferred_batch_size = 16

    def predict(self, items: list[Item]) -> list[Prediction]:
        model = need_model(self.model, self.name)
        render = self.task.render  # type: ignore[attr-defined]
        requests = [LoglikelihoodRequest(context=render(list(it.meta["turns"])),
                                         continuation=" " + str(it.reference).strip())
                    for it in items]
        results = model.loglikelihood(requests)
        return [Prediction(output={"ref_logprob": r.logprob, "ref_tokens": r.n_tokens},
                           usage=r.usage, timings=r.timings)
                for r in results]
