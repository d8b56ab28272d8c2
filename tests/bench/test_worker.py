"""The worker side of distributed runs, in this process (no Ray needed): systems built
from a recipe of names, chunks measured where they run, failures returned as values;
chunk planning; and the CLI's answer when the ray extra is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmscape.bench.ray_executor import CHUNKS_PER_WORKER, plan_chunks
from lmscape.bench.worker import SystemRecipe, SystemWorker, portable
from lmscape.cli.main import build_app
from lmscape.errors import ConfigError, NotFoundError
from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

SRC = Path(__file__).resolve().parents[2] / "src"


def test_chunks_are_whole_batches_four_per_worker_by_default():
    chunks = plan_chunks(40, batch_size=16, workers=2)
    assert len(chunks) == 40 // (40 // (2 * CHUNKS_PER_WORKER))
    assert [i for c in chunks for i in c] == list(range(40))  # every batch once, in order
    assert plan_chunks(3, batch_size=16, workers=8) == [range(1), range(1, 2), range(2, 3)]


def test_chunk_size_is_rounded_to_whole_batches():
    assert plan_chunks(5, batch_size=64, workers=2, chunk_items=100) == [
        range(2), range(2, 4), range(4, 5)]
    assert plan_chunks(2, batch_size=64, workers=2, chunk_items=1) == [range(1), range(1, 2)]


def test_a_recipe_takes_names_not_loaded_models():
    from lmscape.backends.openai_compat import OpenAIBackend

    backend = OpenAIBackend("gpt-4o", base_url="http://127.0.0.1:9/v1", api_key="sk-x")
    with pytest.raises(ConfigError) as err:
        SystemRecipe(task="dialogue", system="smollm2-135m-instruct/next-turn",
                     params={"judge": backend})
    assert "judge=" in err.value.one_line() and "name models by id" in err.value.one_line()
    backend.close()


def test_the_recipe_keeps_its_keys_out_of_its_repr():
    recipe = SystemRecipe(task="sentiment", system="openai:x/prompted",
                          env={"OPENAI_API_KEY": "sk-secret-123"})
    assert "sk-secret" not in repr(recipe)


def test_a_worker_builds_by_name_and_measures_each_batch():
    task = get_task("keywords")
    items = list(task.items("dev", limit=12))
    worker = SystemWorker(SystemRecipe(task="keywords", system="yake"))
    info = worker.describe()
    local = build_system("yake", task)
    assert info.error is None and info.pid == os.getpid()
    assert (info.name, info.method, info.batch_size) == ("yake", "yake", 64)
    assert info.cache_params == local.cache_params() and info.trains is False
    outcomes = worker.predict_chunk([(3, items[:5]), (4, items[5:])])
    assert [o.index for o in outcomes] == [3, 4]
    expected = [p.output for p in local.method.predict(items)]
    assert [p.output for o in outcomes for p in o.predictions] == expected
    for outcome in outcomes:
        assert outcome.items == []  # the driver holds the items
        assert outcome.error is None and outcome.wall_s > 0
        assert outcome.cpu_s is not None and outcome.cpu_s >= 0
        assert outcome.rss_peak_bytes > 0 and outcome.rss_added_bytes >= 0
    worker.close()


def test_a_failed_build_comes_back_as_a_value():
    worker = SystemWorker(SystemRecipe(task="sentiment", system="vadr"))
    info = worker.describe()
    assert isinstance(info.error, NotFoundError) and "did you mean 'vader'" in str(info.error)
    [outcome] = worker.predict_chunk([(0, list(get_task("sentiment").items("dev", limit=2)))])
    assert outcome.error is info.error and outcome.predictions is None
    assert worker.train([])[1] is info.error


def test_an_error_that_cannot_travel_keeps_its_type_and_text():
    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}-{b}")

    out = portable(Odd(1, 2))
    assert isinstance(out, RuntimeError) and str(out) == "Odd: 1-2"
    kept = ValueError("fine")
    assert portable(kept) is kept


def test_ray_executor_options_need_executor_ray(lmscape_home):
    result = CliRunner().invoke(build_app(), ["bench", "--task", "sentiment", "--systems",
                                              "vader", "--limit", "4", "--workers", "2"])
    assert result.exit_code != 0
    assert "--executor ray" in result.output and "Traceback" not in result.output


def test_executor_ray_without_the_extra_names_the_pip_command(lmscape_home):
    # The interpreter is told that ray cannot be imported, as on a machine without it.
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['lmscape'] + sys.argv[1:]; "
            "from lmscape.cli.main import main; main()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", code, "bench", "--task", "sentiment", "--systems", "vader",
         "--limit", "4", "--executor", "ray", "--out", str(lmscape_home / "r.html")],
        check=False, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any("pip install 'lmscape[ray]'" in line for line in lines), proc.stderr
    assert "Traceback" not in proc.stderr
