"""Systems from "MODEL/METHOD" specs; method lists; default suites."""

import pytest

from lmscape.errors import ConfigError, NotFoundError
from lmscape.methods.registry import (
    METHODS,
    build_system,
    default_limit,
    default_systems,
    list_methods,
    method_class,
    parse_spec,
)
from lmscape.tasks.registry import get_task, list_tasks


def test_parse_spec():
    assert parse_spec("gemma-3-270m/few-shot-choice") == ("gemma-3-270m", "few-shot-choice")
    assert parse_spec("yake") == (None, "yake")
    assert parse_spec("llamacpp:/models/x.gguf/prompted") == ("llamacpp:/models/x.gguf",
                                                              "prompted")


def test_list_methods_per_task():
    assert list_methods("sentiment") == ["zero-shot-choice", "few-shot-choice", "prompted",
                                         "logreg-head", "vader", "fine-tuned"]
    assert list_methods("keywords") == ["prompted", "keybert-mmr", "yake", "fine-tuned"]
    assert list_methods("dialogue") == ["next-turn", "reference-perplexity"]
    assert list_methods(None) == list(METHODS)


def test_unknown_or_mismatched_methods():
    sentiment = get_task("sentiment")
    with pytest.raises(NotFoundError, match="did you mean 'few-shot-choice'"):
        build_system("gemma-3-270m/fewshot-choice", sentiment)
    with pytest.raises(NotFoundError, match="keybert-mmr") as info:
        method_class("keybert-mmr", sentiment)
    assert "methods for sentiment" in info.value.hint
    with pytest.raises(ConfigError, match="needs a model") as info:
        build_system("few-shot-choice", sentiment)
    assert "gemma-3-270m/few-shot-choice" in info.value.hint
    with pytest.raises(ConfigError, match="uses no model"):
        build_system("gemma-3-270m/vader", sentiment)


def test_default_suites_name_real_methods_for_their_task():
    for task_name in list_tasks():
        task = get_task(task_name)
        for spec in default_systems(task_name):
            model, method = parse_spec(spec)
            cls = method_class(method, task)
            assert cls.needs_model == (model is not None)
        assert default_limit(task_name) > 0
    assert "vader" in default_systems("sentiment")
    with pytest.raises(NotFoundError):
        default_systems("nope")
