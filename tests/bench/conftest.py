"""One local Ray instance for the whole test session (starting one takes 8-20 s here).

Two CPUs, so two workers of one CPU each; no dashboard. Workers import this checkout
of lmscape and keep their caches (heads, calibrations) in a session folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

import lmscape


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    src = str(Path(lmscape.__file__).resolve().parents[1])
    env = {
        "LMSCAPE_HOME": str(tmp_path_factory.mktemp("ray-workers-home")),
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    already = ray.is_initialized()
    if not already:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, runtime_env={"env_vars": env})
    yield ray
    if not already:
        ray.shutdown()
