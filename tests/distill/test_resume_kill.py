"""Training killed with SIGKILL resumes from its checkpoint and ends with exactly the
weights of a run that was never interrupted (deterministic under the seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from pathlib import Path
from lmscape.distill.students import student_path, train_classifier
from lmscape.distill.train import TrainSettings
from lmscape.tasks.base import Item

work, out = Path(sys.argv[1]), Path(sys.argv[2])
texts = ["a wonderful film", "a dreadful film", "great acting", "awful plot",
         "loved it", "hated it", "superb", "boring"] * 2
items = [Item(id=str(i), text=t, reference=("positive", "negative")[i % 2])
         for i, t in enumerate(texts)]
settings = TrainSettings(max_steps=int(sys.argv[3]), batch_size=4, max_length=16,
                         checkpoint_every=2, seed=3)
stats = train_classifier(student_path("all-minilm-l6-v2"), items, ("negative", "positive"),
                         settings, work, "run-1", out)
print(stats["resumed_from_step"])
"""
STEPS = 16  # the kill lands after step 2: 14 steps of room on a slow machine


def _start(work: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(work), str(out), str(STEPS)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _step(work: Path) -> int:
    try:
        return int(json.loads((work / "checkpoint.json").read_text())["step"])
    except (OSError, ValueError):  # not written yet
        return 0


def _weights(folder: Path):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_sigkill_mid_training_then_resume_gives_identical_weights(tmp_path):
    straight = _start(tmp_path / "work2", tmp_path / "straight")  # never interrupted
    killed = _start(tmp_path / "work", tmp_path / "resumed")
    try:
        deadline = time.monotonic() + 600
        while _step(tmp_path / "work") < 2 and time.monotonic() < deadline:
            if killed.poll() is not None:
                pytest.fail(f"training ended before it could be killed: {killed.stderr.read()}")
            time.sleep(0.05)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
        at_kill = _step(tmp_path / "work")
        assert 2 <= at_kill < STEPS, "kill the run while it is part way"
        assert not (tmp_path / "resumed").exists()

        resumed = _start(tmp_path / "work", tmp_path / "resumed")
        out, err = resumed.communicate(timeout=900)
        assert resumed.returncode == 0, err
        assert int(out.split()[-1]) >= at_kill  # it continued, it did not start over

        out, err = straight.communicate(timeout=900)
        assert straight.returncode == 0, err
        assert int(out.split()[-1]) == 0
        a, b = _weights(tmp_path / "resumed"), _weights(tmp_path / "straight")
        assert a.keys() == b.keys()
        assert all(bool((a[k] == b[k]).all()) for k in a)
    finally:
        for proc in (straight, killed):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
