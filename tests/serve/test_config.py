"""Gateway configuration: embedded defaults, catalog models whose provider key is set,
user models from YAML, fallbacks checked, errors that name the fix."""

from __future__ import annotations

import pytest

from lmscape.errors import ConfigError, NotFoundError
from lmscape.serve.config import GatewayConfig, load_config, resolve_routes

EMBEDDED = {"smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2"}


@pytest.fixture
def no_provider_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
                 "LMSCAPE_VLLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)


def test_defaults_serve_the_embedded_models(no_provider_keys):
    routes = resolve_routes(GatewayConfig())
    assert EMBEDDED <= set(routes)
    assert routes["smollm2-135m-instruct"].kinds == ("chat", "completions")
    assert routes["gemma-3-270m"].kinds == ("completions",)
    assert routes["all-minilm-l6-v2"].kinds == ("embeddings",)
    assert all(r.is_local for r in routes.values())  # no key: no remote model


def test_catalog_models_appear_when_their_provider_key_is_set(no_provider_keys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key-0000000000")
    routes = resolve_routes(GatewayConfig())
    claude = [r for r in routes.values() if r.backend == "anthropic"]
    assert claude and all(r.resolved.model_id for r in claude)
    assert not any(r.backend == "google" for r in routes.values())
    assert claude[0].input_per_mtok > 0  # priced from the catalog


def test_yaml_models_fallbacks_and_limits(tmp_path, no_provider_keys):
    path = tmp_path / "gw.yaml"
    path.write_text(
        "models:\n"
        "  - name: fast\n"
        "    backend: openai\n"
        "    model: gpt-4o-mini\n"
        "    options: {base_url: 'http://127.0.0.1:9/v1'}\n"
        "    price: {input_per_mtok: 0.15, output_per_mtok: 0.6}\n"
        "  - name: tiny\n"
        "    catalog: smollm2-135m-instruct\n"
        "fallbacks:\n"
        "  fast: [tiny]\n"
        "limits: {memory_budget_mb: 512, retries: 3}\n"
        "include_embedded: false\n"
        "include_catalog: false\n"
    )
    config = load_config(path)
    routes = resolve_routes(config)
    assert set(routes) == {"fast", "tiny"}
    assert routes["fast"].output_per_mtok == 0.6 and not routes["fast"].is_local
    assert routes["tiny"].backend == "llamacpp" and routes["tiny"].is_local
    assert config.limits.retries == 3 and config.fallbacks == {"fast": ["tiny"]}


@pytest.mark.parametrize("text, words", [
    ("models: [{name: x}]\n", "needs backend: and model:"),
    ("fallbacks: {smollm2-135m-instruct: [nope]}\n", "'nope' is not a served model"),
    ("limits: {retries: -1}\n", "limits.retries"),
    ("models: [{name: x, backend: openai, model: m, colour: red}]\n", "colour"),
    ("models: [\n", "not valid YAML"),
])
def test_bad_config_says_what_and_where(tmp_path, text, words, no_provider_keys):
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        resolve_routes(load_config(path))
    assert words in str(info.value) and info.value.hint


def test_unknown_catalog_id_suggests_names(no_provider_keys):
    config = GatewayConfig.model_validate({"models": [{"name": "x", "catalog": "smollm3"}]})
    with pytest.raises(NotFoundError) as info:
        resolve_routes(config)
    assert "smollm2-135m-instruct" in str(info.value)


def test_the_format_shown_by_serve_help_is_a_valid_config():
    import yaml

    from lmscape.cli.serve_cmd import CONFIG_EPILOG

    text = CONFIG_EPILOG.split("\n\n", 1)[1].replace("\\[", "[")
    text = text.replace("include_embedded: true, include_catalog: true",
                        "include_embedded: true\n\ninclude_catalog: true")
    config = GatewayConfig.model_validate(yaml.safe_load(text))
    assert [m.name for m in config.models] == ["fast", "claude"]
    assert config.fallbacks == {"fast": ["claude", "smollm2-135m-instruct"]}
    assert config.limits.default_max_tokens == 1024
