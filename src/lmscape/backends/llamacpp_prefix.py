"""One-at-a-time loglikelihood scoring with prefix KV-cache reuse, and what reuse does
to the numbers.

Scoring a continuation needs the logits at every position that predicts one of its
tokens. ``Llama.scores`` is only filled with ``logits_all=True`` (which copies the whole
vocabulary for every prompt token), so this module drives the context directly: it marks
exactly the positions it needs as outputs in a ``llama_batch`` and reads each one with
``llama_get_logits_ith``. ``PrefixScorer`` is the path used with ``batch_scoring=False``
(``llamacpp_score.BatchScorer`` is the default).

Prefix reuse: the tokens held in the KV cache are those of the ``Llama`` object
(``input_ids[:n_tokens]``). Before an item is scored, the cache is truncated back to the
longest prefix it shares with the item (``llama_memory_seq_rm``) and only the rest is
decoded. Callers sort items so that items sharing a prefix (few-shot examples, the same
context with different choices) are adjacent; the shared part is then evaluated once.

Numerics: reuse is not bit-identical to a fresh evaluation, and what moves the numbers
is **how the tokens are grouped into ``llama_decode`` batches**, not leftover KV state
as such and not the thread count. Reuse decodes the prefix in one batch and the rest in
another, and where that split falls depends on what the cache held before: the previous
item, or, in a test suite, whatever an earlier test left in a module-scoped fixture.
That is why ``test_prefix_reuse_...`` passed alone and failed in a full run (|delta| =
0.0133 against a 1e-3 tolerance). llama.cpp's CPU kernels pick their code path from the
shape of the batch (repacked Q4_K/Q6_K GEMM tiles for full groups of rows and GEMV for
leftover rows; another kernel for other types from 8 rows up), and attention without
flash attention sums over KV cells in an order that depends on where the cells sit.
Each path rounds differently, and the 8-bit quantisation of activations in every matmul
turns last-bit differences into visible ones.

The experiment (Gemma 3 270M Q4_K_M with its repacked weights, one 4-shot SST-2
context of 91 tokens, 1 thread): decode the first k tokens, then the rest, and compare
the logprob of " positive" with decoding all 91 at once. It is bit-identical for k in
{1, 2, 4, 5, 8, 16, 17, 20, 24, 32, 40, 48, 64, 65, 70, 80, 88, 89} and off by -0.0023
(k=3), -0.028 (k=9, 10), +0.0069 (k=33), +0.046 (k=50) and +0.008 (k=85). The same
batches with 1, 2, 3 or 4 threads give bit-identical logits. SmolLM2's Q4_1 weights,
which have no GEMM kernels here, give bit-identical logits for every k.

The guarantee, measured with ``benchmarks/fewshot.py`` (200 SST-2 dev items x 2
choices, repacking off as in the backend's default, 1 thread):

- Gemma 3 270M, 4-shot: this path (reuse) against a fresh evaluation of every item:
  |delta logprob| max 0.199, p99 0.091, mean 0.0069; 80% of the scores bit-identical;
  predictions (argmax label) agree on 200/200. The batched path
  (``llamacpp_score``) against this path gives exactly the same statistics: batched
  scores equal the fresh evaluation bit for bit on this build.
- SmolLM2-135M, zero-shot: reuse, fresh and batched are bit-identical on all 400
  scores (its Q4_1 kernels do not depend on the batch shape).

So scores are deterministic for a given build, cache state and batch grouping, and
two ways of evaluating the same tokens differ by rounding only: well under 0.5 nats,
which is the bound the tests assert (with margin, from a reset cache, together with
the argmax on items whose margin is wider than twice the bound). A prediction can still
flip where the two choices are within that noise of each other.

This touches llama-cpp-python internals (``_ctx``, ``_batch``, ``input_ids``,
``n_tokens``), all present throughout 0.3.x.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmscape.backends.llamacpp_batch import row_logprobs, row_scores


@dataclass
class SpanScore:
    logprob: float
    is_greedy: bool
    n_decoded: int  # tokens actually run through the model for this item
    seconds: float = 0.0  # this item's share of the decode time
    # per continuation token, when asked for (``top_n`` not None): (logprob, top tokens)
    tokens: list[tuple[float, tuple[tuple[int, float], ...]]] | None = None


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    left = np.asarray(a[:n], dtype=np.int64)
    right = np.asarray(b[:n], dtype=np.int64)
    diff = np.flatnonzero(left != right)
    return int(diff[0]) if diff.size else n


class PrefixScorer:
    """Scores ``context + continuation`` token lists on one ``llama_cpp.Llama``."""

    def __init__(self, llm, *, reuse: bool = True) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self.reuse = reuse
        self._n_vocab = llm.n_vocab()

    def close(self) -> None:
        pass  # owns nothing: the context belongs to ``llm``

    def reset(self) -> None:
        """Forget the KV cache: the next item is evaluated from its first token."""
        self._llm._ctx.kv_cache_clear()
        self._llm.n_tokens = 0

    def score(self, context: Sequence[int], continuation: Sequence[int],
              top_n: int | None = None) -> SpanScore:
        """Sum of log-probabilities of ``continuation`` after ``context`` (and, with
        ``top_n``, each token's log-probability and the ``top_n`` best tokens there).

        ``context`` must hold at least one token (the caller adds BOS where needed) and
        ``context + continuation`` must fit the context window (checked by the caller).
        """
        llm = self._llm
        full = list(context) + list(continuation)
        first_needed = len(context) - 1  # position whose logits predict continuation[0]
        last_needed = len(full) - 2
        if not continuation:
            return SpanScore(0.0, True, 0, tokens=[] if top_n is not None else None)
        detail: list | None = [] if top_n is not None else None

        keep = 0
        if self.reuse:
            cached = llm.input_ids[: llm.n_tokens]
            keep = min(common_prefix_len(cached, full), first_needed)
        if keep > 0 and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # this memory cannot drop a tail: start over
        if keep == 0:
            llm._ctx.kv_cache_clear()
        llm.n_tokens = keep

        logprob, greedy = 0.0, True
        n_batch = llm.n_batch
        batch = llm._batch.batch
        pos = keep
        while pos < len(full):
            chunk = full[pos : pos + n_batch]
            wanted: list[tuple[int, int]] = []  # (row in batch, target token)
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                p = pos + i
                batch.token[i] = token
                batch.pos[i] = p
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                out = first_needed <= p <= last_needed
                batch.logits[i] = out
                if out:
                    wanted.append((i, full[p + 1]))
            llm._ctx.decode(llm._batch)
            llm.input_ids[pos : pos + len(chunk)] = chunk
            llm.n_tokens = pos + len(chunk)
            for row, target in wanted:
                if detail is None:
                    [(lp, top)] = row_logprobs(llm._ctx, row, self._n_vocab, [target])
                else:
                    [(lp, top)], best = row_scores(llm._ctx, row, self._n_vocab, [target],
                                                   top_n or 0)
                    detail.append((lp, best))
                logprob += lp
                greedy = greedy and top
            pos += len(chunk)
        # The last decoded position's logits were not necessarily requested: make
        # Llama.generate re-evaluate one token before it samples.
        if hasattr(llm, "_requires_eval"):
            llm._requires_eval = True
        return SpanScore(logprob, greedy, len(full) - keep, tokens=detail)
