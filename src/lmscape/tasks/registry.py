"""Task registry: built-in tasks by lazy ``"module:attr"`` strings.

    get_task("sentiment")                # SST-2, default split dev
    get_task("keywords")                 # Inspec, default split test_public
    get_task("keywords-semeval2017")     # SemEval-2017 Task 10, public half
    get_task("dialogue")                 # Topical-Chat next turn
    get_task("mt-bench")                 # MT-Bench, judge-rated
"""

from __future__ import annotations

import importlib
from typing import Any

from lmscape.errors import NotFoundError
from lmscape.tasks.base import Task

BUILTINS: dict[str, str] = {
    "sentiment": "lmscape.tasks.sentiment:SentimentTask",
    "keywords": "lmscape.tasks.keywords:KeywordsTask",
    "keywords-semeval2017": "lmscape.tasks.keywords:SemEval2017KeywordsTask",
    "dialogue": "lmscape.tasks.dialogue:DialogueTask",
    "mt-bench": "lmscape.tasks.dialogue:MTBenchTask",
}


def list_tasks() -> list[str]:
    """Names of every task that :func:`get_task` knows."""
    return list(BUILTINS)


def get_task_class(name: str) -> type[Task]:
    if name not in BUILTINS:
        raise NotFoundError("task", name, BUILTINS, hint="run `lmscape tasks` to list them")
    module_name, _, attr = BUILTINS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get_task(name: str, **options: Any) -> Task:
    """A task instance by name; ``options`` override the definition's options."""
    return get_task_class(name)(**options)
