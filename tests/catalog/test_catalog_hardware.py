"""Memory estimates against hand-computed values, fit checks and suggestions."""

from __future__ import annotations

import psutil
import pytest

from lmscape.catalog import load_catalog, parse_count
from lmscape.catalog.hardware import (
    ACCELERATORS,
    estimate_memory,
    fits,
    get_target,
    precisions_that_fit,
    suggest,
)
from lmscape.errors import ConfigError, LmscapeError, NotFoundError

GB = 1e9


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def overhead(weights: float, kv: float) -> float:
    return 0.10 * (weights + kv) + 0.5 * GB


def test_llama_405b_fp16_by_hand(cat):
    est = estimate_memory(cat.get("llama-3.1-405b"), "fp16", context=4096)
    weights = 405e9 * 2  # 810 GB
    kv = 2 * 126 * 8 * 128 * 4096 * 1 * 2  # 2,113,929,216 bytes
    assert est.weights_bytes == weights == 810 * GB
    assert est.kv_bytes == kv == 2_113_929_216
    assert est.overhead_bytes == pytest.approx(overhead(weights, kv))
    assert est.total_bytes == pytest.approx(weights + kv + overhead(weights, kv))
    assert "810.00 GB" in est.formula and "126 layers" in est.formula
    assert not fits(est, "h100-80gb") and not fits(est, "8x-h100")
    assert fits(est, "16x-h100")


def test_llama_405b_suggestions(cat):
    llama = cat.get("llama-3.1-405b")
    got = [(acc.name, precision) for acc, precision in suggest(llama, context=4096)]
    # fp16 needs 893.8 GB (> 8x80, <= 8x141); int8 448.3 GB (<= 8x80); q4 253.4 GB (<= 4x80)
    assert got == [("8x-h200", "fp16"), ("8x-h100", "int8"), ("4x-h100", "q4")]
    int8 = estimate_memory(llama, "int8", context=4096)
    assert int8.total_bytes == pytest.approx(1.1 * (405e9 + 2_113_929_216) + 0.5 * GB)
    assert precisions_that_fit(llama, ACCELERATORS["h100-80gb"], 4096) == []
    assert precisions_that_fit(llama, ACCELERATORS["8x-h100"], 4096) == ["int8", "q4"]


def test_gpt_j_fp16_at_full_context_by_hand(cat):
    gptj = cat.get("gpt-j-6b")
    est = estimate_memory(gptj, "fp16", context=2048)
    weights = 6_053_381_344 * 2
    kv = 2 * 28 * 16 * 256 * 2048 * 2  # no grouped-query attention: 16 KV heads of 256
    assert (est.weights_bytes, est.kv_bytes) == (weights, kv) == (12_106_762_688, 939_524_096)
    assert est.total_bytes == pytest.approx(14_850_915_462.4)
    assert fits(est, "rtx-4090-24gb")
    fp32 = estimate_memory(gptj, "fp32", context=2048)
    assert fp32.kv_bytes == 2 * kv  # fp32 weights keep an fp32 cache
    assert not fits(fp32, "rtx-4090-24gb") and fits(fp32, "a100-40gb")


def test_smollm2_q4_and_batch_scaling(cat):
    smol = cat.get("smollm2")
    one = estimate_memory(smol, "q4", context=2048)
    assert one.weights_bytes == 135e6 * 0.5625 == 75_937_500
    assert one.kv_bytes == 2 * 30 * 3 * 64 * 2048 * 2 == 47_185_920
    four = estimate_memory(smol, "q4", context=2048, batch=4)
    assert four.kv_bytes == 4 * one.kv_bytes and four.weights_bytes == one.weights_bytes


def test_gemma3_sliding_window_layers_cap_the_cache(cat):
    gemma = cat.get("gemma-3-270m")
    long = estimate_memory(gemma, "q4", context=4096)
    assert long.kv_bytes == 2 * 1 * 256 * 2 * (3 * 4096 + 15 * 512) == 20_447_232
    short = estimate_memory(gemma, "q4", context=256)
    assert short.kv_bytes == 2 * 1 * 256 * 2 * (18 * 256)


def test_encoders_have_no_kv_cache(cat):
    est = estimate_memory(cat.get("bert-base-uncased"), "fp32", context=512)
    assert est.kv_bytes == 0 and est.weights_bytes == 110e6 * 4
    assert "encoders keep no KV cache" in est.notes


def test_default_context_and_window_warning(cat):
    assert estimate_memory(cat.get("llama-3.1-405b")).context == 4096
    assert estimate_memory(cat.get("gpt-neo-125m")).context == 2048
    est = estimate_memory(cat.get("gpt-neo-125m"), context=8192)
    assert any("beyond" in note for note in est.notes)


def test_user_errors(cat):
    with pytest.raises(LmscapeError, match="no published parameter count"):
        estimate_memory(cat.get("gpt-4"))
    with pytest.raises(ConfigError, match="precision"):
        estimate_memory(cat.get("smollm2"), "int3")
    with pytest.raises(ConfigError):
        estimate_memory(cat.get("smollm2"), batch=0)
    with pytest.raises(NotFoundError) as info:
        get_target("rtx-4090")
    assert "rtx-4090-24gb" in info.value.suggestions


def test_this_machine_target_reads_free_ram():
    target = get_target(None)
    free = psutil.virtual_memory().available
    assert target.name == "this-machine" and target.count == 1
    assert target.total_bytes == pytest.approx(free, rel=0.25)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1B", 10**9),
        ("500M", 500 * 10**6),
        ("7e9", 7 * 10**9),
        ("1.3b", 1_300_000_000),
        ("66,000,000", 66_000_000),
        ("125k", 125_000),
        (" 2T ", 2 * 10**12),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


def test_parse_count_rejects_junk():
    with pytest.raises(ConfigError, match="parameter count"):
        parse_count("big")
