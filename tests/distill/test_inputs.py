"""Bad input fails before any model loads, with one clear line and exit code 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lmscape.cli.main import build_app
from lmscape.distill.pipeline import distill
from lmscape.errors import ConfigError, DataError

from .helpers import sentiment_rows, write_csv


def _cli(*args: str):
    result = CliRunner().invoke(build_app(), ["distill", *args])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


def test_no_text_column_names_the_columns_and_the_flag(tmp_path):
    data = write_csv(tmp_path / "reviews.csv", sentiment_rows(10))
    result, lines = _cli("--task", "sentiment", "--data", str(data), "--label-col", "stars")
    assert result.exit_code == 2
    assert len(lines) == 1, lines
    assert "no column 'text' (columns: id, review, stars)" in lines[0]
    assert "--text-col" in lines[0]


def test_no_text_column_in_the_unlabelled_file(tmp_path):
    texts = write_csv(tmp_path / "texts.csv", [{"body": "fine film"}, {"body": "awful"}])
    with pytest.raises(DataError, match="no column 'text' .*columns: body"):
        distill("sentiment", "vader", unlabelled=str(texts), name="x")


def test_too_few_labelled_items_per_class(tmp_path):
    rows = sentiment_rows(10)
    rows = [r for r in rows if r["stars"] == "pos"] + [r for r in rows if r["stars"] == "neg"][:3]
    data = write_csv(tmp_path / "few.csv", rows)
    eval_data = write_csv(tmp_path / "eval.csv", sentiment_rows(2))
    result, lines = _cli("--task", "sentiment", "--data", str(data), "--eval-data",
                         str(eval_data), "--text-col", "review", "--label-col", "stars")
    assert result.exit_code == 2 and len(lines) == 1, lines
    assert "too few labelled items per class" in lines[0]
    assert "class 'negative' has 3" in lines[0] and "at least 4" in lines[0]


@pytest.mark.parametrize("student", ["gemma-3-270m", "smollm2-135m-instruct"])
def test_student_must_be_an_encoder(student):
    with pytest.raises(ConfigError, match="is not an encoder") as info:
        distill("sentiment", "gold", student, name="x")
    assert "--student all-minilm-l6-v2" in info.value.hint


def test_student_not_an_encoder_on_the_command_line():
    result, lines = _cli("--task", "sentiment", "--student", "gemma-3-270m")
    assert result.exit_code == 2 and len(lines) == 1, lines
    assert "student 'gemma-3-270m' is not an encoder (it runs on the llamacpp backend)" in lines[0]


def test_unlabelled_texts_need_a_teacher(tmp_path):
    texts = write_csv(tmp_path / "texts.csv", [{"text": "fine film"}, {"text": "awful"}])
    with pytest.raises(ConfigError, match="need a teacher"):
        distill("sentiment", "gold", unlabelled=str(texts), name="x")


def test_bad_names_and_strategies():
    with pytest.raises(ConfigError, match="model name 'Bad Name' is not allowed"):
        distill("sentiment", name="Bad Name")
    with pytest.raises(ConfigError, match="keyphrases need a tagger"):
        distill("keywords", strategy="setfit", name="x")
