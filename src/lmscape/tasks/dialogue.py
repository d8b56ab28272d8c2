"""Dialogue tasks: ``dialogue`` (Topical-Chat next turn) and ``mt-bench`` (judge-rated).

``dialogue`` items: ``meta["turns"]`` is the context (speakers alternate, the last turn
is the partner's), ``reference`` is the human next turn, ``text`` the rendered
transcript. A method's output is either the reply text or a dict with any of
``reply``, ``ref_logprob`` + ``ref_tokens`` (reference perplexity), ``judge_score``.

Per item (whatever the output has): ``chrf`` (sentence chrF, 0-100), ``embed_sim``
(cosine of the reply's and the reference's embeddings, computed by the system with the
encoder named by the task's ``similarity_model`` option, default all-MiniLM-L6-v2: a
task never loads a model), ``ref_logprob``/``ref_tokens``, ``judge_score`` (1-10).
Aggregate: means with 95% bootstrap intervals; ``perplexity`` is the corpus perplexity
exp(-Σ logprob / Σ tokens) of the human references (lower is better), its interval
bootstrapped over items.

``mt-bench`` items: ``meta["turns"]`` are the two user questions, ``meta["category"]``,
``reference`` the GPT-4 reference answers (math, reasoning, coding) or None. Output:
``{"answers": [a1, a2], "judge_scores": [s1, s2]}``; per item ``judge_score`` is the
mean over rated turns, as MT-Bench reports it.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import Any

import numpy as np

from lmscape.metrics.bootstrap import bootstrap_ci, mean_ci
from lmscape.metrics.text import chrf, perplexity
from lmscape.tasks.base import Item, Metric
from lmscape.tasks.definition import DATA_DIR, DefinedTask
from lmscape.tasks.loading import Record, require_column


def as_turns(value: Any, record: Record, column: str) -> list[str]:
    """Dialogue turns from a JSON list or a newline-separated string."""
    if isinstance(value, list):
        turns = [str(t).strip() for t in value]
    elif isinstance(value, str):
        turns = [t.strip() for t in value.split("\n")]
    else:
        turns = []
    turns = [t for t in turns if t]
    if not turns:
        raise record.fail(f"column {column!r} holds no dialogue turns",
                          hint="give a JSON list of turns, or turns separated by newlines")
    return turns


def context_roles(n_turns: int) -> list[str]:
    """Roles for a context whose last turn is the user's: ..., assistant, user."""
    return ["user" if (n_turns - 1 - i) % 2 == 0 else "assistant" for i in range(n_turns)]


def to_messages(turns: list[str], system: str | None = None) -> list[dict[str, str]]:
    """Chat messages for a context: the model speaks as the assistant next."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for role, text in zip(context_roles(len(turns)), turns, strict=True):
        messages.append({"role": role, "content": text})
    return messages


def output_fields(output: Any) -> dict[str, Any]:
    """Normalise a dialogue output (reply text or dict) to a dict."""
    if output is None:
        return {}
    if isinstance(output, str):
        return {"reply": output}
    return dict(output)


class DialogueTask(DefinedTask):
    """Topical-Chat next-turn response."""

    definition_file = "dialogue.yaml"
    name = "dialogue"
    version = "1"
    primary_metric = "chrf"
    default_split = "test_freq_public"
    lower_is_better = ("perplexity",)

    def render(self, turns: list[str], *, reply_prompt: bool = True) -> str:
        """Plain-text transcript ``A: ...\\nB: ...`` ending with the replier's tag."""
        p = self.prompts
        names = p["speakers"]
        out = "".join(
            p["transcript_turn"].format(speaker=names[role], text=text)
            for role, text in zip(context_roles(len(turns)), turns, strict=True)
        )
        if reply_prompt:
            out += p["transcript_reply"].format(speaker=names["assistant"])
        return out

    def make_item(self, record: Record, id_col: str, text_col: str, ref_col: str,
                  *, user: bool) -> Item:
        turns = as_turns(require_column(record, text_col, "--text-col"), record, text_col)
        reference = str(require_column(record, ref_col, "--label-col")).strip()
        return Item(id=self.item_id(record, id_col), text=self.render(turns, reply_prompt=False),
                    reference=reference, meta={"turns": turns})

    def score(self, item: Item, output: Any) -> dict[str, float]:
        out = output_fields(output)
        scores: dict[str, float] = {}
        reply = out.get("reply")
        if isinstance(reply, str):
            scores["chrf"] = chrf(reply, item.reference)
        if out.get("embed_sim") is not None:
            scores["embed_sim"] = float(out["embed_sim"])
        if out.get("ref_logprob") is not None:
            scores["ref_logprob"] = float(out["ref_logprob"])
            scores["ref_tokens"] = float(out["ref_tokens"])
        if out.get("judge_score") is not None:
            scores["judge_score"] = float(out["judge_score"])
        return scores

    def aggregate(self, items: list[Item], outputs: list[Any],
                  scores: list[dict[str, float]]) -> dict[str, Metric]:
        result: dict[str, Metric] = {}
        for name in ("chrf", "embed_sim", "judge_score"):
            values = [s[name] for s in scores if name in s]
            if values:
                v, lo, hi = mean_ci(values)
                result[name] = Metric(value=v, low=lo, high=hi, n=len(values))
        rated = [s for s in scores if "ref_logprob" in s]
        if rated:
            lp = np.array([s["ref_logprob"] for s in rated])
            nt = np.array([s["ref_tokens"] for s in rated])
            lo, hi = bootstrap_ci(len(rated), lambda idx: math.exp(-lp[idx].sum() / nt[idx].sum()))
            result["perplexity"] = Metric(value=perplexity(lp.tolist(), nt.tolist()),
                                          low=lo, high=hi, n=len(rated))
        return result


class MTBenchTask(DefinedTask):
    """MT-Bench two-turn questions rated by a judge model."""

    definition_file = "mt-bench.yaml"
    name = "mt-bench"
    version = "1"
    primary_metric = "judge_score"
    default_split = "questions"

    @cached_property
    def references(self) -> dict[str, list[str]]:
        """GPT-4 reference answers by question id (for math / reasoning / coding)."""
        path = DATA_DIR / self.definition.dataset / self.prompts["reference_file"]
        refs: dict[str, list[str]] = {}
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    refs[str(row["question_id"])] = list(row["choices"][0]["turns"])
        return refs

    def make_item(self, record: Record, id_col: str, text_col: str, ref_col: str,
                  *, user: bool) -> Item:
        turns = as_turns(require_column(record, text_col, "--text-col"), record, text_col)
        qid = self.item_id(record, id_col)
        category = str(record.data.get("category", "general"))
        reference = None
        if category in self.prompts["reference_categories"]:
            reference = self.references.get(qid) or record.data.get(ref_col)
        return Item(id=qid, text=turns[0], reference=reference,
                    meta={"turns": turns, "category": category})

    def score(self, item: Item, output: Any) -> dict[str, float]:
        out = output_fields(output)
        ratings = [r for r in out.get("judge_scores", []) if r is not None]
        scores: dict[str, float] = {}
        for i, r in enumerate(out.get("judge_scores", []), 1):
            if r is not None:
                scores[f"judge_score_turn{i}"] = float(r)
        if ratings:
            scores["judge_score"] = float(np.mean(ratings))
        return scores

    def aggregate(self, items: list[Item], outputs: list[Any],
                  scores: list[dict[str, float]]) -> dict[str, Metric]:
        result: dict[str, Metric] = {}
        for name in self.definition.metrics:
            values = [s[name] for s in scores if name in s]
            if values:
                v, lo, hi = mean_ci(values)
                result[name] = Metric(value=v, low=lo, high=hi, n=len(values))
        return result
