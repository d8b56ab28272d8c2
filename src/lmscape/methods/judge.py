"""LLM-as-judge with MT-Bench's own judge prompts (Zheng et al. 2023).

The judge is any Backend that can generate (a remote GPT-4-class model for real
evaluations; a small local model works mechanically). Prompts are MT-Bench's
single-answer grading templates, read from the vendored
``tasks/data/mt_bench/judge_prompts.jsonl``:

| case | template |
|---|---|
| one turn, no reference | ``single-v1`` |
| one turn, reference answer (math, reasoning, coding) | ``single-math-v1`` |
| second turn, no reference | ``single-v1-multi-turn`` |
| second turn, reference answer | ``single-math-v1-multi-turn`` |

The judge is asked to end with ``Rating: [[N]]``. :func:`parse_rating` takes the last
``[[N]]`` (then, as FastChat does, a single-bracket ``[N]``) and accepts 1 ≤ N ≤ 10;
otherwise the rating is None (FastChat's -1), which is left out of the averages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lmscape.backends.base import Backend, Request, Usage
from lmscape.tasks.definition import DATA_DIR

_DOUBLE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_SINGLE = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]")
JUDGE_MAX_TOKENS = 512


@cache
def judge_prompts() -> dict[str, dict[str, Any]]:
    """MT-Bench judge templates by name."""
    path = DATA_DIR / "mt_bench" / "judge_prompts.jsonl"
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return {row["name"]: row for row in rows}


def parse_rating(text: str) -> float | None:
    """The judge's rating from ``[[N]]`` (or ``[N]``), or None."""
    for pattern in (_DOUBLE, _SINGLE):
        matches = pattern.findall(text or "")
        if matches:
            value = float(matches[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


@dataclass(kw_only=True)
class Verdict:
    rating: float | None
    text: str
    template: str
    usage: Usage = field(default_factory=Usage)


@dataclass(kw_only=True)
class Job:
    """One answer to grade. ``turn`` 2 also needs the first question and answer."""

    questions: list[str]
    answers: list[str]
    references: list[str] | None = None
    turn: int = 1


class Judge:
    """Grades answers 1-10 with a judge backend."""

    def __init__(self, backend: Backend, *, max_tokens: int = JUDGE_MAX_TOKENS) -> None:
        self.backend = backend
        self.max_tokens = max_tokens

    @property
    def model_id(self) -> str:
        return getattr(self.backend, "model_id", "") or "?"

    @staticmethod
    def template_for(job: Job) -> str:
        base = "single-math-v1" if job.references else "single-v1"
        return base + ("-multi-turn" if job.turn == 2 else "")

    def request(self, job: Job) -> tuple[str, Request]:
        name = self.template_for(job)
        tpl = judge_prompts()[name]
        refs = job.references or []
        if job.turn == 1:
            fields = {"question": job.questions[0], "answer": job.answers[0],
                      "ref_answer_1": refs[0] if refs else ""}
        else:
            fields = {"question_1": job.questions[0], "question_2": job.questions[1],
                      "answer_1": job.answers[0], "answer_2": job.answers[1],
                      "ref_answer_1": refs[0] if refs else "",
                      "ref_answer_2": refs[1] if len(refs) > 1 else ""}
        messages = [{"role": "system", "content": tpl["system_prompt"]},
                    {"role": "user", "content": tpl["prompt_template"].format(**fields)}]
        return name, Request(messages=messages, max_tokens=self.max_tokens, temperature=0.0)

    def grade(self, jobs: list[Job]) -> list[Verdict]:
        """Ratings for ``jobs``, same order (one batch to the judge backend)."""
        built = [self.request(job) for job in jobs]
        results = self.backend.generate([req for _, req in built])
        return [Verdict(rating=parse_rating(r.text), text=r.text, template=name, usage=r.usage)
                for (name, _), r in zip(built, results, strict=True)]
