"""Routed-system specs, the cost–quality curve and policy files (no model runs)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lmscape.errors import ConfigError, DataError, NotFoundError
from lmscape.methods.registry import split_systems
from lmscape.route.calibrate import check_goal, sample_labelled
from lmscape.route.curve import assign, choose, explain, point, smoothed, sweep
from lmscape.route.policy import Policy, load_policy, policy_path, save_policy
from lmscape.route.spec import is_routed, parse
from lmscape.tasks.base import Item

A, B, C = "all-minilm-l6-v2/logreg-head", "gemma-3-270m/few-shot-choice", "openai:x/prompted"


def test_parse_cascade_router_and_policy():
    s = parse(f"cascade({A},{B})")
    assert s.kind == "cascade" and s.members == [A, B] and s.thresholds is None
    s = parse(f"cascade({A},{B},{C},threshold=0.8,threshold=0.6)")
    assert s.members == [A, B, C] and s.thresholds == [0.8, 0.6]
    assert parse(f"router({A},{B},threshold=0.7)").thresholds == [0.7]
    assert parse(f"cascade({A},{B},{C},threshold=0.5)").thresholds == [0.5, 0.5]
    assert parse("auto:sentiment").policy == "sentiment"
    assert parse(f"cascade({A},{B},max_share_large=0.3)").max_share_large == 0.3
    assert is_routed(f"cascade({A},{B})") and is_routed("auto:x") and not is_routed(A)
    assert split_systems(f"vader,cascade({A},{B}),{B}") == ["vader", f"cascade({A},{B})", B]


@pytest.mark.parametrize("spec,needle", [
    (f"cascade({A},{B},threshold=1.5)", "outside 0–1"),
    (f"cascade({A},{B},threshold=-0.1)", "outside 0–1"),
    (f"cascade({A})", "at least two members"),
    (f"cascade({A},{B},{C},threshold=0.1,threshold=0.2,threshold=0.3)", "3 thresholds"),
    (f"cascade({A},{B},speed=3)", "unknown cascade option"),
    ("auto:", "policy name"),
])
def test_bad_specs_say_what_to_fix(spec, needle):
    with pytest.raises(ConfigError) as exc:
        parse(spec)
    assert needle in exc.value.one_line() and exc.value.hint


def test_goal_checks():
    assert check_goal(None, None) == {"target_quality": 0.99}
    assert check_goal(None, 0.3) == {"max_share_large": 0.3}
    with pytest.raises(ConfigError, match="outside 0–1"):
        check_goal(None, 1.3)
    with pytest.raises(ConfigError, match="not both"):
        check_goal(0.9, 0.3)


def test_calibration_items_need_labels():
    items = [Item(id=str(i), text="t", reference=None if i % 2 else "positive")
             for i in range(20)]
    with pytest.raises(DataError, match="without labels"):
        sample_labelled(items, "file x.jsonl", 10, 7)


def _outcomes(n: int, seed: int):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, size=(n, 1))
    small = (rng.uniform(size=n) < conf[:, 0]).astype(float)  # surer -> more often right
    large = (rng.uniform(size=n) < 0.9).astype(float)
    return np.stack([small, large], axis=1), conf


def test_curve_endpoints_and_choice():
    scores, conf = _outcomes(200, 1)
    cost = np.array([0.01, 1.0])
    curve = sweep(scores, conf, cost, kind="cascade")
    first, last = curve[0], curve[-1]
    assert first.shares == (1.0, 0.0) and first.quality == pytest.approx(scores[:, 0].mean())
    assert last.shares == (0.0, 1.0) and last.quality_rel == pytest.approx(1.0)
    assert last.cost_rel == pytest.approx(1.01)  # the cascade paid for both members
    chosen = choose(curve, target_quality=0.97)
    smooth = dict(zip(curve, smoothed(curve), strict=True))
    assert chosen.quality_rel >= 0.97 and smooth[chosen] >= 0.97
    assert all(p.cost >= chosen.cost for p in curve
               if p.quality_rel >= 0.97 and smooth[p] >= 0.97)


def test_a_lucky_threshold_is_not_chosen():
    """One threshold reaches the target only because its neighbours' items happen to
    fall right; the choice moves on to where the curve stays at the target."""
    from lmscape.route.curve import CurvePoint

    q = [0.90, 0.92, 0.94, 1.00, 0.94, 0.95, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0]
    curve = [CurvePoint(threshold=i / 12, quality=v, cost=i, quality_rel=v, cost_rel=i / 11,
                        shares=(1 - i / 11, i / 11)) for i, v in enumerate(q)]
    chosen = choose(curve, target_quality=0.99)
    assert chosen.cost > 3 and chosen.quality_rel >= 0.99
    capped = choose(curve, max_share_large=0.3)
    assert capped.share_large <= 0.3
    text = explain(chosen, ["small", "large"], kind="cascade")
    assert f"below {chosen.threshold:.2f} go to large" in text
    assert f"{1 - chosen.shares[0]:.0%} of calibration items" in text


@settings(max_examples=100, deadline=None, derandomize=True)
@given(n=st.integers(1, 60), m=st.integers(2, 4), seed=st.integers(0, 10_000),
       kind=st.sampled_from(["cascade", "router"]), per_item=st.booleans())
def test_cost_quality_curve_is_monotone_in_cost(n, m, seed, kind, per_item):
    """Monotone whether each member has one cost or a cost per item."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 2, size=(n, m)).astype(float)
    conf = rng.uniform(size=(n, m - 1))
    # cheapest first (for each item, with per-item costs)
    cost = np.sort(rng.uniform(0.001, 1.0, size=(n, m) if per_item else m), axis=-1)
    curve = sweep(scores, conf, cost, kind=kind, overhead=0.001)
    thresholds = [p.threshold for p in curve]
    assert thresholds == sorted(thresholds)
    costs = [p.cost for p in curve]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(costs))
    # the share of the last member never falls as the threshold rises
    large = [p.share_large for p in curve]
    assert all(b >= a for a, b in itertools.pairwise(large))


def test_a_cascade_pays_what_the_items_it_hands_on_cost():
    """The large member costs 3 on the two long items, 1 on the two short ones (mean 2);
    the small one is unsure of the long items. Handing them on costs 3 each, not the
    mean 2: relative cost (4 * 0.1 + 2 * 3) / 4 / 2 = 0.8, not 0.55."""
    scores = np.ones((4, 2))
    conf = np.array([[0.9], [0.9], [0.2], [0.2]])
    cost = np.array([[0.1, 1.0], [0.1, 1.0], [0.1, 3.0], [0.1, 3.0]])
    p = point(scores, conf, cost, [0.5], kind="cascade")
    assert p.shares == (0.5, 0.5) and p.cost_rel == pytest.approx(0.8)
    flat = point(scores, conf, cost.mean(axis=0), [0.5], kind="cascade")
    assert flat.cost_rel == pytest.approx(0.55)
    router = point(scores, conf, cost, [0.5], kind="router", overhead=0.1)
    assert router.cost == pytest.approx((2 * 0.1 + 2 * 3.0) / 4 + 0.1)
    with pytest.raises(DataError, match="shape"):
        point(scores, conf, np.ones((3, 2)), [0.5], kind="cascade")


def test_costs_per_item_from_the_measured_outcomes():
    from lmscape.route.calibrate import cost_matrix
    from lmscape.route.outcomes import MemberOutcomes, relative_effort

    effort = relative_effort(np.array([1.0, 3.0, np.nan, 2.0]))
    assert effort.tolist() == [0.5, 1.5, 1.0, 1.0]  # unmeasured: the mean
    assert relative_effort(np.array([np.nan, np.nan, 2.0])).tolist() == [1.0, 1.0, 1.0]

    def member(name, usd, cpu, local, effort=None):
        return MemberOutcomes(name=name, run_id="r", predictions=[], scores=np.ones(2),
                              cost_per_item=usd, cpu_s_per_item=cpu, wall_s_per_item=cpu,
                              effort=effort, is_local=local)

    small = member("s", 1e-6, 0.01, True)
    large = member("l", 1e-5, 0.1, True, effort=np.array([0.5, 1.5]))
    cost, unit = cost_matrix([small, large])
    assert unit == "cpu_s"  # local members: CPU seconds, what the bench compares
    np.testing.assert_allclose(cost, [[0.01, 0.05], [0.01, 0.15]])
    remote = member("r", 2e-4, None, False)
    cost, unit = cost_matrix([small, remote])
    assert unit == "usd" and cost[:, 1].tolist() == [2e-4, 2e-4]


def test_assign_takes_the_first_sure_member():
    conf = np.array([[0.9, 0.9], [0.1, 0.9], [0.1, 0.1]])
    assert assign(conf, [0.5, 0.5]).tolist() == [0, 1, 2]


def test_policy_round_trip_and_errors(lmscape_home):
    p = Policy(name="sentiment", kind="cascade", task="sentiment", members=[A, B], thresholds=[0.8])
    path = save_policy(p)
    assert path == policy_path("sentiment") and path.parent == lmscape_home / "policies"
    assert load_policy("sentiment") == p
    with pytest.raises(NotFoundError, match="did you mean 'sentiment'"):
        load_policy("sentimnet")
    data = yaml.safe_load(path.read_text())
    data["thresholds"] = [1.7]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="outside 0–1"):
        load_policy("sentiment")
    with pytest.raises(ConfigError, match="not allowed"):
        policy_path("../x")


def test_calibration_items_are_left_out_only_of_fits_that_learn_from_items():
    from lmscape.methods.registry import build_system
    from lmscape.route.cascade import CascadeMethod
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    shots = build_system("smollm2-135m-instruct/zero-shot-choice", task)
    lexicon = build_system("vader", task)
    try:
        cascade = CascadeMethod(task, [shots, lexicon], thresholds=[0.5],
                                calibration_ids=["b"])
        items = [Item(id=i, text="t", reference="positive") for i in "abc"]
        assert [it.id for it in cascade.training_items(shots, items)] == ["a", "b", "c"]
        assert [it.id for it in cascade.training_items(lexicon, items)] == ["a", "c"]
    finally:
        shots.close()
        lexicon.close()


def test_policies_calibrated_on_other_items_never_share_cached_answers():
    from lmscape.methods.registry import build_system
    from lmscape.route.cascade import CascadeMethod
    from lmscape.tasks.registry import get_task

    task = get_task("sentiment")
    members = [build_system("vader", task), build_system("vader", task)]
    try:
        def params(ids):
            return CascadeMethod(task, members, thresholds=[0.5],
                                 calibration_ids=ids).cache_params()

        assert params(["a", "b"]) == params(["b", "a"])
        assert params(["a", "b"]) != params(["a", "c"])  # same count, other items
        assert params([])["calibration_ids"] == ""
    finally:
        for m in members:
            m.close()
