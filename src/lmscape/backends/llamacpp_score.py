"""Batched loglikelihood scoring: many items per ``llama_decode`` call.

One ``BatchScorer.score(pairs)`` call, where a pair is (context tokens, continuation
tokens):

1. **Groups.** Pairs with the same context (an item's choices) share one evaluation of
   it: the first token of every single-token continuation is scored on the context's
   last row. A continuation of several tokens is scored on its own sequence.
2. **Shared prefix.** ``P`` is the longest prefix common to all contexts, capped so that
   every context keeps at least its last token. It lives in sequence 0 and stays there
   between calls (``llm.input_ids[:llm.n_tokens]`` mirrors it), so a few-shot prefix is
   evaluated once per run, not once per call.
3. **Jobs on sequences.** Each job (a context's rest, plus at most one multi-token
   continuation) runs on its own sequence id ("slot"), which first receives the
   prefix's KV cells by ``llama_memory_seq_cp(0, slot)``.
4. **Batches of equal-length jobs.** Jobs are sorted by length and packed, up to
   ``n_seq - 1`` jobs and ``max_rows`` rows per ``llama_decode``; each job is padded at
   its end (after its last scored row, so nothing it scores can see the padding) to the
   batch's longest job and to at least ``min_rows`` rows. Only rows that score
   a continuation token request logits. A job longer than ``max_rows`` runs alone, in
   chunks.
5. **Reading.** After each decode the requested rows' log-softmax is read and the slots
   are emptied for the next batch.

Why this shape: the context keeps **one KV stream per sequence** (``kv_unified=False``),
so every job's cells are laid out exactly as when its tokens are evaluated alone, and
no batch has fewer than ``min_rows`` rows; with the backend's default (no repacked
weights) a row's result then does not depend on the other rows of its batch. Measured
on 200 SST-2 items x 2 choices: batched scores equal a fresh one-item-at-a-time
evaluation bit for bit (Gemma 3 270M 4-shot, SmolLM2 zero-shot), whatever the batch
limits (n_seq 8-16, 64-512 rows: identical). With a single pool of cells shared by all
sequences, attention also summed over the other jobs' masked cells, in an order that
depends on where they sit: Gemma's scores moved by up to 0.19 nats (mean 0.027) and 3
of 200 predictions flipped against the one-at-a-time path. llama.cpp splits a batch of
several streams into micro-batches with the same number of tokens per sequence, hence
the equal-length padding (unequal jobs cost extra, smaller micro-batches). The streams
cost memory: ``n_seq`` windows of ``stream`` cells (256 to start, grown, the context
re-made, when an item needs more). See ``llamacpp_prefix`` for the one-at-a-time path.

Each request's ``seconds`` is its share of the decode calls it took part in (by rows),
plus its share of the prefix evaluation, so the shares add up to the call's time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lmscape.backends.llamacpp_batch import (
    MIN_ROWS,
    TokenBatch,
    row_logprobs,
    row_scores,
    sequence_context,
)
from lmscape.backends.llamacpp_prefix import SpanScore, common_prefix_len

# one row: token, position, (request, target token) pairs scored on this row's logits
Row = tuple[int, int, tuple[tuple[int, int], ...]]
MIN_STREAM = 256  # cells per sequence to start with


@dataclass
class _Job:
    rows: list[Row]
    requests: list[int]
    key: tuple = ()
    seconds: float = 0.0
    slot: int = 0


@dataclass
class _Batch:
    jobs: list[_Job] = field(default_factory=list)
    length: int = 0  # rows per job, padding included


class BatchScorer:
    """Scores many (context, continuation) token pairs on a multi-sequence context that
    it makes for ``llm`` (a ``llama_cpp.Llama``) and installs as ``llm._ctx``.

    Sequence 0 holds the shared prefix; sequences 1..n_seq-1 are slots, empty between
    calls. ``window`` is the most tokens one pair may hold.
    """

    def __init__(self, llm, *, window: int, n_seq: int = 8, reuse: bool = True,
                 max_rows: int = 128, min_rows: int = MIN_ROWS, verbose: bool = False) -> None:
        from llama_cpp import llama_cpp

        self._lib = llama_cpp
        self._llm = llm
        self.window = window
        self.n_seq = n_seq
        self.reuse = reuse
        self.min_rows = min_rows
        self.max_rows = max(min(llm.n_batch, llm.context_params.n_ubatch, max_rows), min_rows)
        self.verbose = verbose
        self._pad_token = max(llm.token_bos(), 0)
        self._n_vocab = llm.n_vocab()
        self._batch = TokenBatch(self.max_rows, 1)
        self.stream = 0  # cells per sequence
        self.decode_calls = 0  # llama_decode calls made so far (for profiling)
        self.prefix_decoded = 0  # prefix tokens the last call had to decode
        self._top_n: int | None = None  # per-token detail asked for by the current call
        self._grow(min(window, MIN_STREAM))

    @property
    def _ctx(self):
        return self._llm._ctx

    def _mem(self):
        return self._lib.llama_get_memory(self._ctx.ctx)

    def close(self) -> None:
        self._batch.close()

    # -- public ----------------------------------------------------------------------
    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
              top_n: int | None = None) -> list[SpanScore]:
        """Sum of log-probabilities of each continuation after its context; with
        ``top_n``, also each continuation token's log-probability and the ``top_n``
        most likely tokens at its position (``SpanScore.tokens``, in order).

        Every context holds at least one token; each pair fits the window (the caller
        checks both).
        """
        results = [SpanScore(0.0, True, 0, tokens=[] if top_n is not None else None)
                   for _ in pairs]
        self._top_n = top_n
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (ctx, cont) in enumerate(pairs):
            if cont:
                groups.setdefault(tuple(ctx), []).append(i)
        if not groups:
            return results
        contexts = sorted(groups)  # canonical: the same jobs whatever the request order
        prefix: tuple[int, ...] = ()
        if self.reuse:
            shared = min(len(c) for c in contexts) - 1
            shared = min(shared, common_prefix_len(contexts[0], contexts[-1]))
            prefix = contexts[0][:shared]  # sorted: first and last bound the common part
        jobs = [job for ctx in contexts
                for job in self._jobs(ctx, [(i, pairs[i][1]) for i in groups[ctx]], len(prefix))]
        self._grow(len(prefix) + max(max(len(job.rows) for job in jobs), self.min_rows))
        start = time.perf_counter()
        self._set_prefix(prefix)
        prefix_seconds = time.perf_counter() - start
        try:
            for batch in self._batches(jobs, len(prefix)):
                self._run(batch, len(prefix), results)
        finally:
            mem = self._mem()
            for slot in range(1, self.n_seq):
                self._lib.llama_memory_seq_rm(mem, slot, -1, -1)
        share = prefix_seconds / sum(len(g) for g in groups.values())
        for job in jobs:  # each request is in exactly one job
            for i in job.requests:
                results[i].seconds = job.seconds / len(job.requests) + share
                results[i].n_decoded = len(job.rows)
        return results

    def reset(self) -> None:
        """Forget everything in the KV cache (the next call starts from nothing)."""
        self._lib.llama_memory_clear(self._mem(), True)
        self._llm.n_tokens = 0

    # -- steps -----------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        """Make sure a sequence holds ``need`` cells: re-make the context if not (the
        prefix cache is lost then)."""
        if need <= self.stream:
            return
        from lmscape.backends.llamacpp import quiet_stderr

        size = min(self.window, max(MIN_STREAM, 1 << (need - 1).bit_length()))
        llm = self._llm
        with quiet_stderr(not self.verbose):
            ctx = sequence_context(llm, n_ctx=size * self.n_seq, n_seq_max=self.n_seq,
                                   kv_unified=False)
            old, llm._ctx = llm._ctx, ctx
            old.close()
        llm.n_tokens = 0
        self.stream = min(size, self._lib.llama_n_ctx_seq(ctx.ctx))

    def _set_prefix(self, prefix: tuple[int, ...]) -> None:
        """Make sequence 0 hold exactly ``prefix``, decoding only what is missing."""
        llm, lib = self._llm, self._lib
        keep = common_prefix_len(llm.input_ids[: llm.n_tokens], prefix)
        mem = self._mem()
        if keep == 0:
            lib.llama_memory_clear(mem, True)
        elif keep < llm.n_tokens and not lib.llama_memory_seq_rm(mem, 0, keep, -1):
            lib.llama_memory_clear(mem, True)
            keep = 0
        llm.n_tokens = keep
        self.prefix_decoded = len(prefix) - keep
        batch = self._batch
        for pos in range(keep, len(prefix), self.max_rows):
            batch.clear()
            chunk = prefix[pos : pos + self.max_rows]
            for i, token in enumerate(chunk):
                batch.add(token, pos + i, (0,), False)
            end = pos + len(chunk)
            for p in range(end, min(pos + self.min_rows, self.stream)):  # pad a short chunk
                batch.add(self._pad_token, p, (0,), False)
            self._decode()
            if len(batch) > len(chunk):
                lib.llama_memory_seq_rm(mem, 0, end, -1)
            llm.input_ids[pos:end] = chunk
            llm.n_tokens = end
        if hasattr(llm, "_requires_eval"):
            llm._requires_eval = True  # no logits of sequence 0 are current

    @staticmethod
    def _jobs(ctx: tuple[int, ...], conts: list[tuple[int, Sequence[int]]],
              n_prefix: int) -> list[_Job]:
        """The jobs of one context: the context with every single-token continuation
        and the first longer one, then one job per further longer continuation."""
        conts = sorted(conts, key=lambda ic: (list(ic[1]), ic[0]))
        single = [(i, c) for i, c in conts if len(c) == 1]
        multi = [(i, c) for i, c in conts if len(c) > 1]
        parts = [single + multi[:1]] + [[m] for m in multi[1:]]
        jobs = []
        for part in parts:
            rows: list[Row] = [(ctx[pos], pos, ()) for pos in range(n_prefix, len(ctx) - 1)]
            rows.append((ctx[-1], len(ctx) - 1, tuple((i, c[0]) for i, c in part)))
            for i, cont in part:
                rows += [(token, len(ctx) + j, ((i, cont[j + 1]),))
                         for j, token in enumerate(cont[:-1])]
            key = (len(rows), ctx, tuple(tuple(c) for _, c in part))
            jobs.append(_Job(rows=rows, requests=[i for i, _ in part], key=key))
        return jobs

    def _batches(self, jobs: list[_Job], n_prefix: int) -> list[_Batch]:
        """Jobs in length order, as many per batch as slots and rows allow when each is
        padded to the batch's longest."""
        batches: list[_Batch] = []
        room = self.stream - n_prefix
        for job in sorted(jobs, key=lambda j: j.key):
            size = max(len(job.rows), self.min_rows)  # each sequence gets min_rows rows
            last = batches[-1] if batches else None
            if (last is not None and len(last.jobs) < self.n_seq - 1
                    and (len(last.jobs) + 1) * size <= self.max_rows):
                last.jobs.append(job)
                last.length = size
            else:
                batches.append(_Batch(jobs=[job], length=size))
        for batch in batches:
            batch.length = min(batch.length, room)
        return batches

    def _run(self, batch: _Batch, n_prefix: int, results: list[SpanScore]) -> None:
        lib, mem = self._lib, self._mem()
        for slot, job in enumerate(batch.jobs, start=1):
            job.slot = slot
            if n_prefix:
                lib.llama_memory_seq_cp(mem, 0, slot, -1, -1)
        if len(batch.jobs) == 1 and len(batch.jobs[0].rows) > self.max_rows:
            chunks = [batch.jobs[0].rows[k : k + self.max_rows]
                      for k in range(0, len(batch.jobs[0].rows), self.max_rows)]
            for chunk in chunks:  # one long job, alone
                self._decode_rows([(batch.jobs[0], chunk)], len(chunk), results)
        else:
            self._decode_rows([(job, job.rows) for job in batch.jobs], batch.length, results)
        for job in batch.jobs:
            lib.llama_memory_seq_rm(mem, job.slot, -1, -1)

    def _decode_rows(self, parts: list[tuple[_Job, list[Row]]], length: int,
                     results: list[SpanScore]) -> None:
        """Decode each job's ``rows`` on its slot, padded at the end to ``length`` (and to
        ``min_rows`` in all); read the scored rows."""
        tokens = self._batch
        tokens.clear()
        wanted: list[tuple[int, tuple[tuple[int, int], ...]]] = []
        length = max(length, self.min_rows if len(parts) == 1 else 0)
        for job, rows in parts:
            for token, pos, wants in rows:
                row = tokens.add(token, pos, (job.slot,), bool(wants))
                if wants:
                    wanted.append((row, wants))
            next_pos = rows[-1][1] + 1
            for p in range(next_pos, min(next_pos + length - len(rows),
                                         self.stream)):
                tokens.add(self._pad_token, p, (job.slot,), False)
        start = time.perf_counter()
        self._decode()
        for row, wants in wanted:
            targets = [t for _, t in wants]
            if self._top_n is None:
                scored, best = row_logprobs(self._ctx, row, self._n_vocab, targets), ()
            else:
                scored, best = row_scores(self._ctx, row, self._n_vocab, targets, self._top_n)
            for (i, _), (lp, top) in zip(wants, scored, strict=True):
                results[i].logprob += lp
                results[i].is_greedy = results[i].is_greedy and top
                if results[i].tokens is not None:
                    results[i].tokens.append((lp, best))
        elapsed = time.perf_counter() - start
        n_rows = sum(len(rows) for _, rows in parts)
        for job, rows in parts:
            job.seconds += elapsed * len(rows) / n_rows

    def _decode(self) -> None:
        self._batch.decode(self._ctx)
        self.decode_calls += 1
