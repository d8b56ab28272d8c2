import pytest

from lmscape.errors import (
    CatalogError,
    ContextLengthError,
    LmscapeError,
    MissingDependencyError,
    NotFoundError,
)


def test_not_found_suggests_closest_names():
    err = NotFoundError("model", "smollm-135m", ["smollm2-135m-instruct", "gpt-4o", "gemma-3-270m"])
    assert "did you mean 'smollm2-135m-instruct'" in str(err)
    assert err.suggestions == ["smollm2-135m-instruct"]


def test_not_found_without_close_names_has_no_suggestion():
    err = NotFoundError("backend", "zzz", ["llamacpp", "hf"])
    assert str(err) == "unknown backend 'zzz'"


def test_catalog_error_names_file_entry_and_field():
    err = CatalogError("value is not a number", file="c.yaml", entry="gpt-4", field="params")
    assert str(err) == "file c.yaml, entry 'gpt-4', field 'params': value is not a number"


def test_one_line_carries_the_fix():
    err = ContextLengthError(5000, 2048, model="smollm2")
    line = err.one_line()
    assert "\n" not in line
    assert "5000 tokens" in line and "2048" in line and "fix:" in line
    assert isinstance(err, LmscapeError)


def test_every_error_is_rooted():
    from lmscape import errors

    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]
    assert len(classes) > 10
    for cls in classes:
        assert issubclass(cls, LmscapeError), cls



@pytest.mark.parametrize("err", [
    ContextLengthError(5000, 2048, model="smollm2"),
    NotFoundError("task", "sentimet", ["sentiment"], hint="run `lmscape tasks`"),
    CatalogError("bad", file="c.yaml", entry="x", field="params"),
    MissingDependencyError("ray", "ray"),
])
def test_errors_survive_pickling(err):
    """Errors cross process boundaries (Ray workers hand them back to the runner)."""
    import pickle

    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert back.one_line() == err.one_line()
    assert vars(back) == vars(err)

@pytest.mark.parametrize("module", ["torch", "llama_cpp", "transformers", "sentence_transformers"])
def test_import_lmscape_stays_light(module):
    import subprocess
    import sys

    code = (
        "import sys, lmscape, lmscape.cli.main as m; m.build_app(); "
        f"sys.exit(1 if {module!r} in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
