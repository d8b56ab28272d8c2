"""Training follows ``LMSCAPE_THREADS`` (torch's thread count) and reports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import json, os, sys
from pathlib import Path
from lmscape.distill.students import student_path, train_classifier
from lmscape.distill.train import TrainSettings
from lmscape.tasks.base import Item

items = [Item(id=str(i), text=t, reference=("positive", "negative")[i % 2])
         for i, t in enumerate(["a wonderful film", "a dreadful film"] * 4)]
seen = {}
for threads in ("2", "1"):
    os.environ["LMSCAPE_THREADS"] = threads
    root = Path(sys.argv[1]) / threads
    stats = train_classifier(student_path("all-minilm-l6-v2"), items, ("negative", "positive"),
                             TrainSettings(max_steps=1, batch_size=4, max_length=16),
                             root / "work", "run", root / "out")
    seen[threads] = [stats["torch_threads"], stats["steps_run"]]
print(json.dumps(seen))
"""


def test_training_uses_and_reports_lmscape_threads(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"2": [2, 1], "1": [1, 1]}
