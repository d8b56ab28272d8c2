"""Keyphrases -> BIO tags on the tokenizer's words, for training a token tagger.

1. The text's alphanumeric tokens are stemmed the way the metric stems them
   (:func:`lmscape.metrics.keyphrase.normalize`), so a gold phrase matches where the
   metric would count it as present.
2. Gold phrases are matched longest first; an occurrence that overlaps one already
   matched is skipped. Every occurrence is tagged (a phrase can occur several times).
3. Each tokenizer word is tagged ``B-KP`` if it starts a matched span, ``I-KP`` if it
   lies inside one, else ``O``; only a word's first sub-token carries the tag (the
   others are ignored by the loss), as the tagger engine reads them back.
"""

from __future__ import annotations

import re

from lmscape.backends.tagging import Windows, first_subtokens, word_spans
from lmscape.metrics.keyphrase import normalize

TAGS = ("O", "B-KP", "I-KP")
IGNORE = -100
_ALNUM = re.compile(r"[0-9a-z]+")


def phrase_spans(text: str, phrases: list[str]) -> list[tuple[int, int]]:
    """Character spans of every occurrence of the gold ``phrases`` in ``text``."""
    tokens = [(m.start(), m.end(), normalize(m.group())) for m in _ALNUM.finditer(text.lower())]
    stems = [t[2] for t in tokens]
    keys = sorted({tuple(normalize(p).split()) for p in phrases if normalize(p)},
                  key=lambda k: -len(k))
    taken = [False] * len(tokens)
    spans = []
    for key in keys:
        n = len(key)
        for i in range(len(tokens) - n + 1):
            if tuple(stems[i:i + n]) == key and not any(taken[i:i + n]):
                taken[i:i + n] = [True] * n
                spans.append((tokens[i][0], tokens[i + n - 1][1]))
    return sorted(spans)


def word_tags(spans_of_words: dict[int, tuple[int, int]], phrases: list[tuple[int, int]]
              ) -> dict[int, int]:
    """Word index -> tag id (index into :data:`TAGS`)."""
    out = {}
    for word, (start, _end) in spans_of_words.items():
        tag = 0
        for p_start, p_end in phrases:
            if start == p_start:
                tag = 1
                break
            if p_start < start < p_end:
                tag = 2
                break
        out[word] = tag
    return out


def window_labels(windows: Windows, texts: list[str], gold: list[list[str]]) -> list[list[int]]:
    """Per window, the tag id of each token (IGNORE except on words' first sub-tokens)."""
    spans = word_spans(windows)
    tags = [word_tags(spans[i], phrase_spans(texts[i], gold[i])) for i in range(len(texts))]
    out = []
    for w, text in enumerate(windows.owner):
        labels = [IGNORE] * len(windows.word_ids[w])
        for pos, word in first_subtokens(windows.word_ids[w]):
            labels[pos] = tags[text][word]
        out.append(labels)
    return out
