"""MT-Bench judge prompts and the [[rating]] parser."""

import pytest

from lmscape.methods.judge import Job, Judge, judge_prompts, parse_rating


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is fine. Rating: [[7]]", 7.0),
        ("Rating: [[8.5]]", 8.5),
        ('Format "Rating: [[5]]" ... my verdict: [[3]]', 3.0),
        ("Rating: [6]", 6.0),
        ("[[ 9 ]]", 9.0),
        ("Rating: [[11]]", None),
        ("Rating: [[0]]", None),
        ("I would give it a seven.", None),
        ("", None),
    ],
)
def test_parse_rating(text, expected):
    assert parse_rating(text) == expected


def test_vendored_judge_prompts_and_template_choice():
    prompts = judge_prompts()
    assert {"single-v1", "single-math-v1", "single-v1-multi-turn",
            "single-math-v1-multi-turn"} <= set(prompts)
    assert Judge.template_for(Job(questions=["q"], answers=["a"])) == "single-v1"
    assert Judge.template_for(Job(questions=["q"], answers=["a"], references=["r"])) == (
        "single-math-v1")
    assert Judge.template_for(Job(questions=["q", "q2"], answers=["a", "b"], turn=2)) == (
        "single-v1-multi-turn")


def test_judge_request_fills_mt_bench_template():
    judge = Judge(backend=None)  # building a request needs no model
    name, req = judge.request(Job(questions=["What is 2+2?"], answers=["4"], references=["4."]))
    assert name == "single-math-v1"
    system, user = req.messages
    assert system["content"] == "You are a helpful assistant."
    assert "[The Start of Reference Answer]\n4.\n" in user["content"]
    assert "[The Start of Assistant's Answer]\n4\n" in user["content"]
    assert '"[[rating]]"' in user["content"] and req.temperature == 0.0
    name2, req2 = judge.request(Job(questions=["q1", "q2"], answers=["a1", "a2"], turn=2))
    assert name2 == "single-v1-multi-turn"
    assert "q2" in req2.messages[1]["content"] and "a2" in req2.messages[1]["content"]
