"""`lmscape models` and `lmscape models show` through the CLI runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lmscape.cli.main import build_app

GOOD_ENTRY = """\
version: 1
models:
  - id: team-lm
    name: Team LM
    developer: Example Lab
    access: open-weight
    size_class: small
    licence: MIT
    architecture: decoder-only Transformer
    params: {value: 300000000, source: "https://example.org/team-lm", as_of: 2025-01-02}
    context_window: {value: 4096, source: "https://example.org/team-lm", as_of: 2025-01-02}
"""


@pytest.fixture(scope="module")
def app():
    return build_app()


def run(app, *args):
    return CliRunner().invoke(app, list(args))


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_table_lists_every_model(app, monkeypatch):
    from lmscape.cli.app import console

    monkeypatch.setattr(console, "_width", 160)
    result = run(app, "models")
    assert result.exit_code == 0, result.output
    for text in (
        "gpt-4o",
        "llama-3.1-405b",
        "smollm2-135m-instruct",
        "tinybert-4l",
        "$2.5/$10",
        "$8/$24 †",
        "Llama 3.1 Community License",
        "Meta",
    ):
        assert text in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert rows["gemma-3-270m"].rstrip().endswith("yes")
    assert rows["gpt-4"].rstrip().endswith("no")


def test_narrow_table_keeps_prices(app, monkeypatch):
    from lmscape.cli.app import console

    monkeypatch.setattr(console, "_width", 80)
    out = run(app, "models").stdout
    assert "$30/$60" in out and "2,097,152" in out and "wider terminal" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_json_and_filters(app):
    every = json.loads(run(app, "models", "--json").stdout)
    assert len(every) >= 50
    closed = json.loads(run(app, "models", "--access", "closed", "--json").stdout)
    assert closed and {m["access"] for m in closed} == {"closed"}
    small = json.loads(run(app, "models", "--max-params", "1B", "--json").stdout)
    assert {m["id"] for m in small} >= {"smollm2-135m-instruct", "bert-base-uncased"}
    assert all(m["params"]["value"] <= 1e9 for m in small)
    assert "gpt-4" not in {m["id"] for m in small}  # no published size: left out
    assert "gpt-j-6b" in {
        m["id"] for m in json.loads(run(app, "models", "--max-params", "7e9", "--json").stdout)
    }
    assert "gpt-neo-1.3b" not in {
        m["id"] for m in json.loads(run(app, "models", "--max-params", "500M", "--json").stdout)
    }
    offline = json.loads(run(app, "models", "--runs-offline", "--json").stdout)
    assert {m["id"] for m in offline} == {
        "smollm2-135m-instruct",
        "gemma-3-270m",
        "all-minilm-l6-v2",
    }
    assert all(m["runs_offline"] for m in offline)


def test_bad_filter_values_exit_2_with_one_line(app):
    for args in (("--access", "public"), ("--max-params", "huge")):
        result = run(app, "models", *args)
        assert result.exit_code == 2
        assert len(error_lines(result)) == 1 and "fix:" in result.stderr


def test_show_prints_every_fact_with_its_source(app):
    result = run(app, "models", "show", "llama-3-405b")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "126 layers" in out and "8 KV heads" in out
    assert "0.873" in out and "5-shot" in out
    assert "huggingface.co/meta-llama" in out and "2024-07-23" in out
    data = json.loads(run(app, "models", "show", "gpt-4", "--json").stdout)
    assert data["price"]["source"] == "https://openai.com/api/pricing/"
    assert data["scores"][0]["source"].startswith("OpenAI, GPT-4 Technical Report")


def test_show_unknown_id(app):
    result = run(app, "models", "show", "gpt5")
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and "did you mean" in result.stderr


def test_user_catalog_from_home_and_flag(app, lmscape_home, tmp_path):
    lmscape_home.mkdir(parents=True)
    (lmscape_home / "catalog.yaml").write_text(GOOD_ENTRY, encoding="utf-8")
    assert "team-lm" in run(app, "models").stdout
    extra = tmp_path / "extra.yaml"
    extra.write_text(GOOD_ENTRY.replace("Team LM", "Team LM v2"), encoding="utf-8")
    result = run(app, "models", "show", "team-lm", "--catalog", str(extra))
    assert result.exit_code == 0 and "Team LM v2" in result.stdout
    result = run(app, "models", "--catalog", str(extra), "show", "team-lm")
    assert "Team LM v2" in result.stdout


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (("licence: MIT", "licnse: MIT"), ["entry 'team-lm'", "field 'licnse'", "unknown field"]),
        (("value: 300000000", "value: many"), ["entry 'team-lm'", "field 'params.value'"]),
        (
            (
                ' source: "https://example.org/team-lm", as_of: 2025-01-02}\n    context',
                " as_of: 2025-01-02}\n    context",
            ),
            ["field 'params.source'", "missing"],
        ),
        (("name: Team LM", "name: [Team LM"), ["YAML syntax error", "line"]),
    ],
    ids=["unknown-field", "wrong-type", "missing-source", "bad-yaml"],
)
def test_bad_catalog_files_give_one_line_and_exit_2(app, tmp_path, edit, expect):
    bad = tmp_path / "bad.yaml"
    body = GOOD_ENTRY.replace(*edit)
    assert body != GOOD_ENTRY
    bad.write_text(body, encoding="utf-8")
    for args in (("models",), ("models", "show", "team-lm"), ("fit", "team-lm")):
        result = run(app, *args, "--catalog", str(bad))
        assert result.exit_code == 2, result.output
        lines = error_lines(result)
        assert len(lines) == 1, lines
        assert "bad.yaml" in lines[0]
        for word in expect:
            assert word in lines[0]
