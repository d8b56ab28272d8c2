"""Robust label and list parsing of what chat models actually write."""

import pytest

from lmscape.methods.parsing import parse_label, parse_list

LABELS = ("negative", "positive")
ALIASES = {"0": "negative", "1": "positive", "neg": "negative", "pos": "positive"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("positive", "positive"),
        ("Positive.", "positive"),
        ("  NEGATIVE\n", "negative"),
        ('"negative"', "negative"),
        ("**Negative**", "negative"),
        ("Sentiment: negative", "negative"),
        ("The sentiment is positive.", "positive"),
        ("Answer: positive\nThe review praises the acting.", "positive"),
        ('{"label": "negative"}', "negative"),
        ('```json\n{"sentiment": "positive"}\n```', "positive"),
        ("I think it is positive overall", "positive"),
        ("This review is negative, not positive.", "negative"),
        ("1", "positive"),
        ("pos", "positive"),
        ("", None),
        ("positive or negative", None),
        ("not positive", None),
        ("I cannot tell.", None),
    ],
)
def test_parse_label(text, expected):
    assert parse_label(text, LABELS, ALIASES) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. machine learning\n2. neural networks\n3. deep learning",
         ["machine learning", "neural networks", "deep learning"]),
        ("1) alpha\n2) beta", ["alpha", "beta"]),
        ("- a b\n- c d\n* e\n• f", ["a b", "c d", "e", "f"]),
        ("foo, bar baz, qux", ["foo", "bar baz", "qux"]),
        ("Keyphrases: a; b; c", ["a", "b", "c"]),
        ('["x y", "z"]', ["x y", "z"]),
        ('```json\n["x y", "z"]\n```', ["x y", "z"]),
        ('{"keyphrases": ["p", "q"]}', ["p", "q"]),
        ('Here are the keyphrases:\n1. "alpha beta"\n2. gamma.\n3. Gamma',
         ["alpha beta", "gamma"]),
        ("graph theory\nspanning trees\n", ["graph theory", "spanning trees"]),
        ("1. this line is an explanation that is far too long to be a keyphrase at all\n2. ok",
         ["ok"]),
        ("", []),
        ("   ", []),
    ],
)
def test_parse_list(text, expected):
    assert parse_list(text) == expected
