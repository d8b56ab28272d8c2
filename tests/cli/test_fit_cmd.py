"""`lmscape fit` through the CLI runner, checked against hand-computed numbers."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmscape.catalog.hardware import ACCELERATORS
from lmscape.cli.main import build_app


@pytest.fixture(scope="module")
def app():
    return build_app()


def run(app, *args):
    return CliRunner().invoke(app, list(args))


def test_llama_405b_fp16_does_not_fit_one_h100_and_names_what_would(app):
    result = run(app, "fit", "llama-3.1-405b", "--precision", "fp16", "--gpu", "h100-80gb")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "810.00 GB" in out  # 405e9 params x 2 bytes
    assert "does not fit NVIDIA H100 80 GB" in out
    assert "int8 -> 8x-h100" in out and "q4 -> 4x-h100" in out and "fp16 -> 8x-h200" in out


def test_without_gpu_also_answers_for_one_h100(app):
    result = run(app, "fit", "llama-3.1-405b", "--precision", "fp16")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "810.00 GB" in out
    assert "does not fit one NVIDIA H100 80 GB" in out
    assert "int8 -> 8x-h100" in out
    small = " ".join(run(app, "fit", "smollm2", "--precision", "q4").stdout.split())
    assert "fits one NVIDIA H100 80 GB" in small


def test_json_numbers_match_hand_computation(app):
    result = run(app, "fit", "llama-3.1-405b", "-p", "fp16", "--gpu", "8x-h100", "--json")
    data = json.loads(result.stdout)
    est = data["estimate"]
    assert est["weights_bytes"] == 810e9
    assert est["kv_bytes"] == 2 * 126 * 8 * 128 * 4096 * 2
    assert data["fits"] is False and data["target"]["total_gb"] == 640
    assert data["precisions_that_fit_target"] == ["int8", "q4"]
    assert {"target": "8x-h100", "precision": "int8", "total_gb": 640} in data["would_fit"]

    gptj = json.loads(
        run(
            app, "fit", "gpt-j", "--context", "2048", "--batch", "2", "--gpu", "a100-40gb", "--json"
        ).stdout
    )
    assert gptj["estimate"]["kv_bytes"] == 2 * 28 * 16 * 256 * 2048 * 2 * 2
    assert gptj["estimate"]["total_bytes"] == pytest.approx(
        1.1 * (6_053_381_344 * 2 + 2 * 939_524_096) + 0.5e9
    )
    assert gptj["fits"] is True


def test_small_model_fits_this_machine(app):
    result = run(app, "fit", "smollm2", "--precision", "q4", "--json")
    data = json.loads(result.stdout)
    assert data["target"]["name"] == "this-machine" and data["fits"] is True
    text = run(app, "fit", "smollm2", "--precision", "q4").stdout
    assert "fits this machine's available RAM" in text


def test_help_states_the_formula_and_lists_accelerators(app):
    result = CliRunner().invoke(app, ["fit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ACCELERATORS:
        assert name in result.stdout
    assert "2 x layers x kv_heads x head_dim x context x batch" in result.stdout
    assert "0.5625" in result.stdout and "10% of (weights + KV cache) + 0.5 GB" in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("fit", "gpt-4"), "no published parameter count"),
        (("fit", "smollm2", "--gpu", "rtx-4090"), "did you mean 'rtx-4090-24gb'"),
        (("fit", "smollm2", "--precision", "int3"), "unknown precision"),
        (("fit", "no-such-model"), "unknown model"),
    ],
)
def test_user_errors_exit_2_with_one_line(app, args, words):
    result = run(app, *args)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0]


def test_prices_per_hour_come_from_the_hardware_catalog(app, tmp_path):
    out = " ".join(
        run(app, "fit", "llama-3.1-405b", "-p", "fp16", "--gpu", "h100-80gb").stdout.split()
    )
    assert "int8 -> 8x-h100 (640.00 GB) $31.92/h Lambda" in out  # 8 GPUs x $3.99
    assert "on-demand list prices from the hardware catalog" in out
    data = json.loads(run(app, "fit", "qwen2.5-7b", "--gpu", "h100-80gb", "--json").stdout)
    assert data["fits"] is True
    price = data["prices"]["h100-80gb"]
    assert (price["usd_per_hour"], price["provider"]) == (3.49, "RunPod")
    assert price["source"] == "https://www.runpod.io/pricing"
    override = tmp_path / "prices.yaml"
    override.write_text(
        "version: 1\nhardware:\n  - id: h100-80gb\n    price: {usd_per_device_hour: 1.5, "
        "provider: Own rack, offer: amortised, source: internal cost sheet 2026, as_of: 2026-11-01}\n",
        encoding="utf-8",
    )
    result = run(app, "fit", "qwen2.5-7b", "--gpu", "h100-80gb", "--catalog", str(override))
    assert result.exit_code == 0, result.output
    assert "$1.50/h Own rack" in " ".join(result.stdout.split())
