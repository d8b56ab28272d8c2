"""Method registry and systems.

A *system* is a model plus a method, named ``"MODEL/METHOD"``
(``"gemma-3-270m/few-shot-choice"``, ``"all-minilm-l6-v2/keybert-mmr"``), or a
model-free method alone (``"yake"``, ``"vader"``). MODEL is anything
:func:`lmscape.get_model` accepts (catalog id, ``BACKEND:MODEL``, GGUF path); METHOD is
the part after the last ``/``.

| method | tasks | needs |
|---|---|---|
| ``zero-shot-choice``, ``few-shot-choice`` | sentiment | loglikelihood (local models) |
| ``prompted`` | sentiment, keywords, keywords-semeval2017 | any chat model |
| ``logreg-head`` | sentiment | embeddings |
| ``vader`` | sentiment | nothing |
| ``keybert-mmr`` | keywords, keywords-semeval2017 | embeddings (+ spaCy) |
| ``yake`` | keywords, keywords-semeval2017 | nothing |
| ``next-turn`` | dialogue, mt-bench | any chat model (+ ``judge=MODEL``) |
| ``reference-perplexity`` | dialogue | loglikelihood |
| ``fine-tuned`` | sentiment, keywords, keywords-semeval2017 | classify / tag (distilled students) |

Systems made of other systems (``cascade(A,B)``, ``router(A,B)``, ``auto:NAME``) are
named ``KIND(...)`` or ``KIND:NAME``; :func:`build_system` hands them to the builder
registered for KIND under the ``lmscape.systems`` entry-point group (routing lives in a
higher layer, so this module never imports it).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lmscape.backends.base import Backend
from lmscape.backends.resolve import ResolvedModel, resolve
from lmscape.errors import ConfigError, LmscapeError, NotFoundError
from lmscape.methods.base import Method
from lmscape.tasks.base import Task

_KEYWORDS = ("keywords", "keywords-semeval2017")

# method name -> task name -> "module:Class"
METHODS: dict[str, dict[str, str]] = {
    "zero-shot-choice": {"sentiment": "lmscape.methods.choice:ZeroShotChoice"},
    "few-shot-choice": {"sentiment": "lmscape.methods.choice:FewShotChoice"},
    "prompted": {
        "sentiment": "lmscape.methods.prompted:PromptedClassify",
        **{t: "lmscape.methods.prompted:PromptedKeywords" for t in _KEYWORDS},
    },
    "logreg-head": {"sentiment": "lmscape.methods.embed_head:LogRegHead"},
    "vader": {"sentiment": "lmscape.methods.lexicon:Vader"},
    "keybert-mmr": {t: "lmscape.methods.keybert:KeyBertMMR" for t in _KEYWORDS},
    "yake": {t: "lmscape.methods.yake_method:Yake" for t in _KEYWORDS},
    "next-turn": {t: "lmscape.methods.dialogue_gen:NextTurn" for t in ("dialogue", "mt-bench")},
    "reference-perplexity": {"dialogue": "lmscape.methods.dialogue_gen:ReferencePerplexity"},
    "fine-tuned": {"sentiment": "lmscape.methods.fine_tuned:FineTunedClassify",
                   **{t: "lmscape.methods.fine_tuned:FineTunedKeyphrases" for t in _KEYWORDS}},
}
MODEL_FREE = ("vader", "yake")

# The default suite of ``lmscape bench`` on the embedded offline models.
DEFAULT_SYSTEMS: dict[str, list[str]] = {
    "sentiment": [
        "gemma-3-270m/few-shot-choice",
        "smollm2-135m-instruct/zero-shot-choice",
        "all-minilm-l6-v2/logreg-head",
        "vader",
    ],
    "keywords": ["all-minilm-l6-v2/keybert-mmr", "yake", "smollm2-135m-instruct/prompted"],
    "keywords-semeval2017": ["all-minilm-l6-v2/keybert-mmr", "yake",
                             "smollm2-135m-instruct/prompted"],
    "dialogue": ["smollm2-135m-instruct/next-turn", "gemma-3-270m/reference-perplexity",
                 "smollm2-135m-instruct/reference-perplexity"],
    "mt-bench": [],
}
# Items per task so that the default suite (sentiment, keywords, dialogue) finishes
# within 10 minutes on an otherwise idle 2-core CPU. Budget from measured CPU seconds
# per item (one llama.cpp thread; benchmarks/quality.py): gemma few-shot choice 0.17,
# keybert-mmr ~0.8, yake 0.007, smollm next-turn (64 tokens) + embed_sim ~1.5 (upper
# bound), gemma reference perplexity 0.84; plus one-off work cached in $LMSCAPE_HOME:
# the logreg head (6920 train embeddings) and two 200-item calibrations.
FALLBACK_LIMIT = 100  # a task with no entry below
DEFAULT_LIMITS: dict[str, int] = {
    "sentiment": 200,
    "keywords": 50,
    "keywords-semeval2017": 50,
    "dialogue": 40,
    "mt-bench": 10,
}


@dataclass
class System:
    """A model plus a method, ready to predict."""

    name: str
    method: Method
    model_id: str | None
    resolved: ResolvedModel | None = None  # what the resolver said of the model
    endpoint: str | None = None  # a --base-url given for the model

    def cache_params(self) -> dict[str, Any]:
        """The method's parameters, plus the endpoint when one was given: what, besides
        the system's name, identifies its outputs (run ids and the prediction cache)."""
        params = self.method.cache_params()
        return {**params, "endpoint": self.endpoint} if self.endpoint else params

    @property
    def model(self) -> Backend | None:
        return self.method.model

    def close(self) -> None:
        self.method.close()


def list_methods(task: Task | str | None = None) -> list[str]:
    """Method names, all of them or those that support ``task``."""
    if task is None:
        return list(METHODS)
    name = task if isinstance(task, str) else task.name
    return [m for m, tasks in METHODS.items() if name in tasks]


def split_systems(text: str) -> list[str]:
    """A comma-separated list of systems; commas inside ``(...)`` stay in their system
    (``cascade(A,B),vader`` -> ``["cascade(A,B)", "vader"]``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_spec(spec: str) -> tuple[str | None, str]:
    """``"MODEL/METHOD"`` -> (model, method); ``"yake"`` -> (None, "yake")."""
    spec = spec.strip()
    if "/" not in spec:
        return None, spec
    model, _, method = spec.rpartition("/")
    return model, method


def method_class(method: str, task: Task) -> type[Method]:
    """The class implementing ``method`` for ``task``."""
    if method not in METHODS:
        raise NotFoundError("method", method, METHODS,
                            hint=f"methods for {task.name}: {', '.join(list_methods(task))}")
    impl = METHODS[method].get(task.name)
    if impl is None:
        raise NotFoundError(
            f"{task.name} method", method, list_methods(task),
            hint=f"{method} works on {', '.join(METHODS[method])}; "
            f"methods for {task.name}: {', '.join(list_methods(task))}",
        )
    module_name, _, attr = impl.partition(":")
    return getattr(importlib.import_module(module_name), attr)


SYSTEMS_ENTRY_POINTS = "lmscape.systems"
_COMPOSITE = re.compile(r"^\s*([a-z_]+)\s*(\(|:)")


@cache
def _composite_builders() -> dict[str, str]:
    """``KIND -> "module:function"`` from the ``lmscape.systems`` entry points."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=SYSTEMS_ENTRY_POINTS)}


def composite_builder(spec: str) -> Any | None:
    """The builder for a ``KIND(...)``/``KIND:NAME`` spec, or None for a plain system."""
    m = _COMPOSITE.match(spec)
    if m is None:
        return None
    target = _composite_builders().get(m.group(1))
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _load_model(model_id: str) -> Backend:
    return resolve(model_id).load()


def build_system(spec: str, task: Task, *, backend: Backend | None = None,
                 base_url: str | None = None, **params: Any) -> Any:
    """Build the system named ``spec`` for ``task``.

    ``backend`` reuses an already loaded model (it must be the spec's model);
    ``base_url`` points a remote model at another endpoint (``--base-url``).
    ``params`` go to the method (``k=8``, ``top_n=5``, ``judge="gpt-4o"`` …); a model
    id given for one of the method's ``model_params`` (``judge``, ``similarity``) is
    loaded here, and closed with the system.
    """
    builder = composite_builder(spec)
    if builder is not None:
        if backend is not None:
            raise ConfigError(f"{spec} builds its own members", hint="drop backend=")
        return builder(spec, task, base_url=base_url, **params) if base_url else \
            builder(spec, task, **params)
    model_id, method = parse_spec(spec)
    cls = method_class(method, task)
    if cls.needs_model and model_id is None:
        raise ConfigError(
            f"method {method!r} needs a model",
            hint=f"name the system MODEL/{method}, e.g. "
            f"{_example_model(method)}/{method}",
        )
    if not cls.needs_model and model_id is not None:
        raise ConfigError(f"method {method!r} uses no model",
                          hint=f"name the system just {method!r}")
    params = {**cls.default_params(task), **params}
    for name in cls.model_params:
        value = params.get(name)
        if isinstance(value, str) and value.strip().lower() not in ("none", "", "false"):
            params[name] = _load_model(value)
    model, resolved = None, None
    if model_id is not None:
        if backend is None:
            resolved = resolve(model_id, base_url=base_url)
            asked = cls.backend_defaults.get(resolved.backend, {})
            model = resolved.load(**{k: v for k, v in asked.items()
                                     if k not in resolved.options})
        else:  # an already loaded model, perhaps of a backend the resolver cannot name
            with contextlib.suppress(LmscapeError):
                resolved = resolve(model_id, base_url=base_url)
            model = backend
    name = f"{model_id}/{method}" if model_id else method
    endpoint = base_url if resolved is not None and not resolved.is_local else None
    return System(name=name, method=cls(task, model, **params), model_id=model_id,
                  resolved=resolved, endpoint=endpoint)


def _example_model(method: str) -> str:
    if method in ("logreg-head", "keybert-mmr"):
        return "all-minilm-l6-v2"
    if method in ("few-shot-choice", "zero-shot-choice", "reference-perplexity"):
        return "gemma-3-270m"
    return "smollm2-135m-instruct"


def _known_task(task_name: str) -> None:
    from lmscape.tasks.registry import list_tasks

    if task_name not in list_tasks():
        raise NotFoundError("task", task_name, list_tasks(),
                            hint="run `lmscape tasks` to list them")


def default_systems(task_name: str) -> list[str]:
    """The systems ``lmscape bench --task TASK`` runs when none are named (a task added
    without defaults has none: name them with --systems)."""
    if task_name not in DEFAULT_SYSTEMS:
        _known_task(task_name)
    return list(DEFAULT_SYSTEMS.get(task_name, ()))


def default_limit(task_name: str) -> int:
    """Items per system for the default suite (fits 10 minutes on a 2-core CPU)."""
    if task_name not in DEFAULT_LIMITS:
        _known_task(task_name)
    return DEFAULT_LIMITS.get(task_name, FALLBACK_LIMIT)
