"""OpenAI's ``logprobs`` objects, built from tokens a local backend scored.

Two shapes, as OpenAI (and vLLM) write them:

- **completions** (the legacy shape), one object per choice::

      {"tokens": ["Review", ":", ...], "token_logprobs": [null, -3.2, ...],
       "top_logprobs": [null, {":": -3.2, " is": -2.9}, ...], "text_offset": [0, 6, ...]}

  With ``echo`` the prompt's tokens come first; nothing predicts the first one, so its
  logprob and its alternatives are ``null``. Then every sampled token, a final
  end-of-generation token included (so ``max_tokens: 1`` always adds exactly one entry,
  which lm-evaluation-harness relies on). ``top_logprobs[i]`` holds the N most likely
  tokens at position i plus the token itself (so up to N+1 entries, as OpenAI).
  ``text_offset[i]`` is where token i starts in the choice's ``text``; a BOS token that
  the gateway added (not written in the prompt) has length 0.
- **chat**: ``{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`` for
  the generated tokens (no end-of-generation token), ``top_logprobs`` being the N best.

Token strings are the token's text with special tokens written out; a token that is
not valid UTF-8 on its own (part of a character) is written ``bytes:\\xNN...``, as
OpenAI does. The numbers come from :meth:`Backend.token_logprobs`: the same scoring
path as ``loglikelihood``.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lmscape.backends.base import Backend, Result, TokenLogprob


class Pieces:
    """Token id -> bytes and -> display string, cached for one backend."""

    def __init__(self, backend: Backend) -> None:
        self._text: Callable[[int], bytes] = backend.token_text
        self._cache: dict[int, bytes] = {}

    def bytes(self, token: int) -> bytes:
        piece = self._cache.get(token)
        if piece is None:
            piece = self._cache[token] = self._text(token)
        return piece

    def string(self, token: int) -> str:
        piece = self.bytes(token)
        try:
            return piece.decode("utf-8")
        except UnicodeDecodeError:
            return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)


def _offsets(pieces: Pieces, tokens: Sequence[int], start: int, *, skip_first: bool) -> list[int]:
    """Character offset of each token in the text the tokens decode to, from ``start``."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out, at = [], start
    for i, token in enumerate(tokens):
        out.append(at)
        if i == 0 and skip_first:
            continue
        at += len(decoder.decode(pieces.bytes(token)))
    return out


def _added_first(pieces: Pieces, prompt: str | None, tokens: Sequence[int]) -> bool:
    """True when the first token (a BOS) is not written in the string ``prompt``."""
    if prompt is None or not tokens:
        return False
    whole = b"".join(pieces.bytes(t) for t in tokens).decode("utf-8", errors="replace")
    rest = whole[len(pieces.bytes(tokens[0]).decode("utf-8", errors="replace")):]
    return whole != prompt and rest == prompt


@dataclass
class Scored:
    """One choice: its prompt and sampled tokens, and the scored tokens (prompt tokens
    after the first when echoing, then the sampled ones)."""

    result: Result
    prompt: str | None  # the prompt string, None when it was sent as token ids
    scored: list[TokenLogprob]
    echo: bool


def pairs_to_score(results: Sequence[Result], echo: bool) -> list[tuple[list[int], list[int]]]:
    """What :meth:`Backend.token_logprobs` must score for each result."""
    pairs = []
    for r in results:
        prompt, sampled = list(r.prompt_ids or ()), list(r.token_ids or ())
        pairs.append((prompt[:1], prompt[1:] + sampled) if echo else (prompt, sampled))
    return pairs


def _top_dict(pieces: Pieces, entry: TokenLogprob, n: int) -> dict[str, float]:
    top = {pieces.string(t): lp for t, lp in entry.top[:n]}
    top.setdefault(pieces.string(entry.token), entry.logprob)
    return top


def completion_choice(pieces: Pieces, choice: Scored, n: int) -> tuple[str, dict[str, Any]]:
    """The choice's text (the prompt first when echoing) and its legacy logprobs."""
    r = choice.result
    prompt_ids, sampled = list(r.prompt_ids or ()), list(r.token_ids or ())
    tokens = (prompt_ids if choice.echo else []) + sampled
    values: list[TokenLogprob | None] = ([None] if choice.echo and prompt_ids else [])
    values += choice.scored
    prefix = ""
    offsets: list[int] = []
    if choice.echo:
        prefix = choice.prompt if choice.prompt is not None else b"".join(
            pieces.bytes(t) for t in prompt_ids).decode("utf-8", errors="replace")
        skip = _added_first(pieces, choice.prompt, prompt_ids)
        offsets = _offsets(pieces, prompt_ids, 0, skip_first=skip)
    offsets += _offsets(pieces, sampled, len(prefix), skip_first=False)
    return prefix + r.text, {
        "tokens": [pieces.string(t) for t in tokens],
        "token_logprobs": [v.logprob if v is not None else None for v in values],
        "top_logprobs": [_top_dict(pieces, v, n) if v is not None else None for v in values],
        "text_offset": offsets,
    }


def chat_content(pieces: Pieces, result: Result, scored: list[TokenLogprob],
                 n: int) -> dict[str, Any]:
    """Chat ``logprobs`` for the generated tokens (the end-of-generation token left out)."""

    def item(token: int, logprob: float) -> dict[str, Any]:
        return {"token": pieces.string(token), "logprob": logprob,
                "bytes": list(pieces.bytes(token))}

    kept = scored[: result.usage.completion_tokens]
    return {"content": [{**item(e.token, e.logprob),
                         "top_logprobs": [item(t, lp) for t, lp in e.top[:n]]} for e in kept]}
