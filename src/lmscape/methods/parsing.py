"""Robust parsing of free-text model output into a label or a list of phrases.

Small chat models rarely answer in exactly the requested format. These parsers accept
what they actually write: ``"Positive."``, ``"Sentiment: negative"``, ``{"label": ...}``,
numbered / bulleted / comma / semicolon lists, JSON arrays (also inside code fences),
quoted items and a leading ``Keyphrases:`` header.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

_FENCE = re.compile(r"```(?:json|text)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_MARKER = re.compile(r"^\s*(?:[-*•·+]|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s+")
_HEADER = re.compile(
    r"^\s*(?:here (?:are|is)[^:\n]*|(?:the )?(?:top \d+ )?(?:key ?phrases?|keywords?)"
    r"(?: are)?|answer|output)\s*:\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'`“”‘’«»*_"
_ANSWER_MARKER = re.compile(
    r"(?:sentiment|answer|label|classification)\s*(?:is|:)\s*", re.IGNORECASE
)
_NEGATED = re.compile(r"\b(?:not|isn't|is not|n't)\s+$", re.IGNORECASE)


def _json_candidates(text: str) -> list[object]:
    out: list[object] = []
    for chunk in [*_FENCE.findall(text), text]:
        chunk = chunk.strip()
        for opener, closer in (("[", "]"), ("{", "}")):
            start, end = chunk.find(opener), chunk.rfind(closer)
            if start != -1 and end > start:
                try:
                    out.append(json.loads(chunk[start : end + 1]))
                except json.JSONDecodeError:
                    pass
    return out


def parse_label(
    text: str, labels: Sequence[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The label ``text`` states, or None when it states none (or is ambiguous).

    Order of rules: a JSON object with a label-like value; the whole answer being a
    label or an alias; the first label after "sentiment:/answer:/label is"; otherwise
    the label words present (ignoring a negated "not positive"), if exactly one label.
    """
    if not text:
        return None
    vocab: dict[str, str] = {label.lower(): label for label in labels}
    for alias, label in (aliases or {}).items():
        vocab.setdefault(alias.lower(), label)
    for obj in _json_candidates(text):
        if isinstance(obj, dict):
            for value in obj.values():
                if isinstance(value, str) and value.strip().lower() in vocab:
                    return vocab[value.strip().lower()]
    stripped = text.strip().strip(_QUOTES + ".!,;: \n").lower()
    if stripped in vocab:
        return vocab[stripped]
    words = "|".join(re.escape(w) for w in sorted(vocab, key=len, reverse=True))
    pattern = re.compile(rf"\b({words})\b", re.IGNORECASE)
    marker = _ANSWER_MARKER.search(text)
    if marker:
        found = pattern.search(text, marker.end())
        if found and found.start() - marker.end() < 4:
            return vocab[found.group(1).lower()]
    hits: list[str] = []
    for m in pattern.finditer(text):
        if _NEGATED.search(text[: m.start()]):
            continue
        label = vocab[m.group(1).lower()]
        if len(m.group(1)) < 3 and not stripped.startswith(m.group(1).lower()):
            continue  # short aliases ("0", "1") only count as the whole answer's start
        if label not in hits:
            hits.append(label)
    if len(hits) == 1:
        return hits[0]
    return None


def _clean_item(item: str) -> str:
    item = _MARKER.sub("", item)
    item = item.strip().strip(_QUOTES).strip()
    item = re.sub(r"\s+", " ", item)
    return item.rstrip(".;,:").strip().strip(_QUOTES).strip()


def parse_list(text: str, *, max_words: int = 8) -> list[str]:
    """A list of phrases from free text, in order, de-duplicated (case-insensitive).

    Accepts JSON arrays (also in code fences), one item per line (with or without
    numbers/bullets), or a comma/semicolon-separated line. Items longer than
    ``max_words`` words (sentences, explanations) are dropped.
    """
    if not text or not text.strip():
        return []
    items: list[str] = []
    for obj in _json_candidates(text):
        if isinstance(obj, list) and all(isinstance(x, str | int | float) for x in obj):
            items = [str(x) for x in obj]
            break
        if isinstance(obj, dict):
            for value in obj.values():
                if isinstance(value, list) and all(isinstance(x, str) for x in value):
                    items = list(value)
                    break
            if items:
                break
    if not items:
        body = _FENCE.sub(lambda m: m.group(1), text)
        lines = [ln for ln in body.splitlines() if ln.strip()]
        for line in lines:
            line = _HEADER.sub("", line)
            line = _MARKER.sub("", line)
            if ";" in line:
                items.extend(line.split(";"))
            elif "," in line and (len(lines) <= 2 or not _MARKER.match(line)):
                items.extend(line.split(","))
            else:
                items.append(line)
    seen: set[str] = set()
    out: list[str] = []
    for raw in items:
        item = _clean_item(_HEADER.sub("", str(raw)))
        key = item.lower()
        if not item or key in seen or len(item.split()) > max_words:
            continue
        seen.add(key)
        out.append(item)
    return out
