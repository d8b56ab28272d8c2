"""Cascades and routers on real models: who sees which item, what is recorded, the
three-step cascade ending at a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest

from lmscape.methods.registry import build_system
from lmscape.tasks.registry import get_task

pytestmark = pytest.mark.slow

SMALL = "all-minilm-l6-v2/logreg-head"
LARGE = "gemma-3-270m/few-shot-choice"


def _spy(member):
    """Record the ids of the items a member is asked about (the real predict runs)."""
    seen: list[str] = []
    real = member.method.predict

    def predict(items):
        seen.extend(it.id for it in items)
        return real(items)

    member.method.predict = predict
    return seen


@pytest.fixture
def sst2():
    task = get_task("sentiment")
    return task, list(task.items("dev", limit=24, seed=3))


def test_cascade_sends_only_unsure_items_to_the_large_member(home, sst2):
    task, items = sst2
    system = build_system(f"cascade({SMALL},{LARGE},threshold=0.9)", task)
    try:
        small, large = system.members
        asked_small, asked_large = _spy(small), _spy(large)
        preds = system.method.predict(items)
    finally:
        system.close()
    assert asked_small == [it.id for it in items]
    unsure = [it.id for it, p in zip(items, preds, strict=True)
              if p.extra["route"]["asked"][0]["confidence"] < 0.9]
    assert asked_large == unsure and 0 < len(unsure) < len(items)
    for it, p in zip(items, preds, strict=True):
        route = p.extra["route"]
        first = route["asked"][0]
        if it.id in unsure:
            assert p.extra["answered_by"] == LARGE and len(route["asked"]) == 2
            assert p.output == route["asked"][1]["output"]
        else:
            assert p.extra["answered_by"] == SMALL and len(route["asked"]) == 1
            assert first["confidence"] >= 0.9 and p.output == first["output"]
        assert p.extra["cost_usd"] > 0


def test_three_step_cascade_reaches_the_remote_model_only_when_both_are_unsure(
        home, sst2, llama_server):
    task, items = sst2
    remote = f"openai:{llama_server.model}@{llama_server.base_url}/prompted"
    system = build_system(f"cascade({SMALL},{LARGE},{remote},threshold=0.95,threshold=0.9)",
                          task)
    try:
        seen = [_spy(m) for m in system.members]
        preds = system.method.predict(items)
    finally:
        system.close()
    both_unsure = [it.id for it, p in zip(items, preds, strict=True)
                   if len(p.extra["route"]["asked"]) == 3]
    assert seen[2] == both_unsure and both_unsure, "some items must reach the remote model"
    assert len(seen[2]) < len(items)
    for it, p in zip(items, preds, strict=True):
        asked = p.extra["route"]["asked"]
        if it.id in both_unsure:
            assert asked[0]["confidence"] < 0.95 and asked[1]["confidence"] < 0.9
            assert p.extra["answered_by"] == remote and p.usage.prompt_tokens > 0
        else:
            assert asked[-1]["confidence"] >= (0.95, 0.9)[len(asked) - 1]


def test_a_routed_system_refuses_its_calibration_items(home, sst2):
    from lmscape.errors import DataError

    task, items = sst2
    system = build_system(f"cascade({SMALL},{LARGE},threshold=0.9)", task)
    try:
        system.method.calibration_ids = {items[0].id}
        with pytest.raises(DataError, match="used to calibrate"):
            system.method.predict(items)
    finally:
        system.close()
