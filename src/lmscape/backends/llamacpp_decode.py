"""Batched generation with continuous batching: sequences join and leave between steps.

``BatchDecoder`` runs several generations on one llama.cpp context, each on its own
sequence id ("slot"), each with its own sampler chain (temperature, top_p, seed), stop
strings, token budget and text callback. One ``step()``:

1. drops cancelled requests and admits waiting ones into free slots: each new prompt is
   decoded on its slot in its own ``llama_decode`` call(s), reusing the KV cells of the
   longest prefix it shares with what that slot held before (``prefix_cache``) but
   re-decoding at least its last ``MIN_ROWS`` tokens (a shorter tail goes through other
   kernels and rounds differently from a fresh evaluation), and its first token is
   sampled;
2. decodes the last sampled token of every running sequence in **one** ``llama_decode``
   batch (one row per sequence) and samples each sequence's next token;
3. finishes sequences on an end-of-generation token, a stop string or the budget; a
   finished slot keeps its tokens for prefix reuse and takes the next waiting request.

Why greedy outputs equal the unbatched ones (for the same model on the same build):
the context uses **one KV stream per sequence** (``kv_unified=False``), so a sequence's
cells are laid out exactly as if it ran alone; prompts are decoded alone, in the same
calls as unbatched; only the one-token decode steps share a batch, and each stream
still sees a single query in them. Whether a row's result then depends on how many
rows the batch holds is up to the CPU kernels of the weight types. Measured here (8
prompts x 24 tokens, greedy): SmolLM2's Q4_1 model gives 8/8 identical texts (bit-
identical logits); Gemma 3 270M's Q4_K/Q5_0/Q8_0 model gives 3/8 (2/3 with 3 sequences),
its texts parting after a near-tie, so for it only the one-at-a-time path (``n_parallel
=1``) reproduces one-at-a-time outputs. With a unified cache (all sequences in one pool
of cells), attention sums over cells in another order and even SmolLM2 diverged (3 of 8
prompts within 24 tokens); with flash attention a unified cache is order-exact only
until a finished sequence's cells are reused.

Cost: the KV memory is ``n_seq`` windows of ``n_ctx_seq`` cells. The decoder starts at
512 cells per sequence (SmolLM2: about 11 MiB per sequence; Gemma 3 270M: about 9 MiB)
and re-makes the context larger, up to the model's window, when a request's prompt
plus its token budget needs more and no sequence is running (waiting requests wait
for that). The numbers do not depend on the stream size.

Adopting it in a server (one backend per local model, shared by the request threads):

    handle = backend.submit(request, on_text=deliver)   # any thread; validates, queues
    result = backend.wait(handle)    # steps until this handle is done (in a worker thread,
                                     # e.g. ``await asyncio.to_thread(backend.wait, handle)``)
    handle.cancel()                  # the client went away: freed at the next step

``deliver(delta)`` runs on whichever thread is stepping; from asyncio, hand the text to
the event loop with ``loop.call_soon_threadsafe``. ``backend.step()`` is the single-step
form for a server that prefers one driver thread per model. A handle's ``timings`` count
from ``submit``, so they include time spent waiting for a free sequence.

Threads: ``submit`` and ``GenerationHandle.cancel`` may be called from any thread and
never touch llama.cpp. ``step`` must be called by one thread at a time, holding the
lock that guards the context (the backend's lock); the text callbacks run inside it,
on the stepping thread, so they must be quick and must not call the backend. Any
thread may step: every step advances every running sequence, so concurrent callers
each stepping until their own handles are done share decode steps (continuous
batching) without a scheduler thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lmscape.backends.base import Timings, TokenLogprob
from lmscape.backends.llamacpp_batch import MIN_ROWS, TokenBatch, row_scores
from lmscape.backends.llamacpp_prefix import common_prefix_len
from lmscape.backends.llamacpp_text import TextAssembler


@dataclass(frozen=True, kw_only=True)
class Sampling:
    """How one sequence picks its tokens and when it stops."""

    max_tokens: int
    temperature: float = 0.0  # <= 0: greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # record each token's logprob and this many alternatives


@dataclass(eq=False)
class GenerationHandle:
    """One submitted generation. Read ``text``/``finish_reason``/usage once ``done``."""

    tokens: list[int]
    sampling: Sampling
    on_text: Callable[[str], None] | None = None
    text: str = ""
    finish_reason: str = "length"  # "stop" | "length" | "cancelled" | "error"
    completion_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)  # sampled, a final end token included
    # one per token_ids when ``sampling.logprobs`` is set: read from the logits row the
    # sampler drew from, so greedy's token is always the first of its ``top``
    token_logprobs: list[TokenLogprob] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    start: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    error: Exception | None = None  # set when llama.cpp failed on this sequence

    @property
    def prompt_tokens(self) -> int:
        return len(self.tokens)

    def cancel(self) -> None:
        """Stop this generation at the next step (thread-safe)."""
        self.cancelled = True


@dataclass(eq=False)
class _Running:
    handle: GenerationHandle
    slot: int
    budget: int
    sampler: object  # llama_cpp._internals.LlamaSampler
    assembler: TextAssembler
    next_token: int | None = None


class BatchDecoder:
    """Generations on a context with ``n_seq`` per-sequence KV streams, made by
    ``make_context(cells_per_sequence)``: 512 cells per sequence at first, re-made
    larger (up to ``window``) when a request needs more and nothing is running."""

    def __init__(self, make_context: Callable[[int], object], *, n_seq: int, window: int,
                 n_batch: int, vocab, piece: Callable[[int], bytes],
                 prefix_cache: bool = True) -> None:
        from llama_cpp import _internals, llama_cpp

        self._lib, self._internals = llama_cpp, _internals
        self._make_context = make_context
        self._ctx = None
        self._vocab = vocab
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self._piece = piece
        self.n_seq = n_seq
        self.window = window  # most tokens one sequence may hold
        self.n_ctx_seq = 0  # cells per sequence in the current context
        self.prefix_cache = prefix_cache
        self._batch = TokenBatch(max(n_batch, n_seq), 1)
        self._cached: list[list[int]] = [[] for _ in range(n_seq)]  # tokens in each stream
        self._running: dict[int, _Running] = {}  # slot -> sequence
        self._waiting: deque[GenerationHandle] = deque()
        self._queue_lock = threading.Lock()
        self.decode_calls = 0
        self.max_rows = 0  # most sequences ever decoded in one step

    # -- any thread ------------------------------------------------------------------
    def submit(self, tokens: Sequence[int], sampling: Sampling,
               on_text: Callable[[str], None] | None = None) -> GenerationHandle:
        """Queue a generation; it starts at the next ``step``. The caller has checked
        that the prompt fits ``window``."""
        handle = GenerationHandle(tokens=list(tokens), sampling=sampling, on_text=on_text)
        with self._queue_lock:
            self._waiting.append(handle)
        return handle

    @property
    def busy(self) -> bool:
        """Anything waiting or running."""
        return bool(self._running or self._waiting)

    # -- the stepping thread (holding the context's lock) ------------------------------
    def step(self) -> None:
        """Admit waiting requests, then decode one token for every running sequence."""
        for run in [r for r in self._running.values() if r.handle.cancelled]:
            self._finish(run, "cancelled")
        self._admit()
        rows = [r for r in self._running.values() if r.next_token is not None]
        if not rows:
            return
        batch = self._batch
        batch.clear()
        for run in rows:
            batch.add(run.next_token, len(self._cached[run.slot]), (run.slot,), True)
        try:
            batch.decode(self._ctx)
        except Exception as exc:  # noqa: BLE001 - each waiter re-raises its own
            for run in rows:
                self._fail(run, exc)
            return
        self.decode_calls += 1
        self.max_rows = max(self.max_rows, len(rows))
        for i, run in enumerate(rows):
            self._cached[run.slot].append(run.next_token)
            self._accept(run, self._sample(run, i))

    def close(self) -> None:
        for run in list(self._running.values()):
            self._finish(run, "cancelled")
        self._batch.close()
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    # -- helpers ---------------------------------------------------------------------
    def _admit(self) -> None:
        while True:
            free = [s for s in range(self.n_seq) if s not in self._running]
            with self._queue_lock:
                while self._waiting and self._waiting[0].cancelled:
                    self._settle(self._waiting.popleft(), "cancelled")
                if not free or not self._waiting:
                    return
                handle = self._waiting[0]
                if self._cells_needed(handle) > self.n_ctx_seq:
                    if self._running:
                        return  # grow once the running sequences are done
                    self._grow(self._cells_needed(handle))
                self._waiting.popleft()
            self._start(handle, free)

    def _cells_needed(self, handle: GenerationHandle) -> int:
        prompt = len(handle.tokens)
        return prompt + max(min(handle.sampling.max_tokens, self.window - prompt), 0)

    def _grow(self, need: int) -> None:
        """(Re-)make the context with room for ``need`` cells per sequence."""
        size = min(self.window, max(512, 1 << (max(need, 1) - 1).bit_length()))
        if self._ctx is not None:
            self._ctx.close()
        self._ctx = self._make_context(size)
        self.n_ctx_seq = min(size, self._lib.llama_n_ctx_seq(self._ctx.ctx))
        self._cached = [[] for _ in range(self.n_seq)]

    def _start(self, handle: GenerationHandle, free: list[int]) -> None:
        prompt, sampling = handle.tokens, handle.sampling
        budget = min(sampling.max_tokens, self.n_ctx_seq - len(prompt))  # >= the request's
        if budget <= 0 or not prompt:
            self._settle(handle, "length")
            return
        # the free slot whose cached tokens share the longest prefix with this prompt
        slot = max(free, key=lambda s: (common_prefix_len(self._cached[s], prompt), -s))
        keep = 0
        if self.prefix_cache:  # re-decode at least MIN_ROWS tokens: same kernels as fresh
            keep = max(min(common_prefix_len(self._cached[slot], prompt),
                           len(prompt) - MIN_ROWS), 0)
        mem = self._lib.llama_get_memory(self._ctx.ctx)
        if not self._lib.llama_memory_seq_rm(mem, slot, keep, -1):
            self._lib.llama_memory_seq_rm(mem, slot, -1, -1)
            keep = 0
        cached = self._cached[slot]
        del cached[keep:]
        run = _Running(handle=handle, slot=slot, budget=budget,
                       sampler=self._sampler(sampling),
                       assembler=TextAssembler(sampling.stop))
        self._running[slot] = run
        batch = self._batch
        for pos in range(keep, len(prompt), batch.capacity):
            batch.clear()
            chunk = prompt[pos : pos + batch.capacity]
            for i, token in enumerate(chunk):
                batch.add(token, pos + i, (slot,), pos + i == len(prompt) - 1)
            try:
                batch.decode(self._ctx)
            except Exception as exc:  # noqa: BLE001 - the waiter re-raises it
                self._fail(run, exc)
                return
            self.decode_calls += 1
            cached.extend(chunk)
        self._accept(run, self._sample(run, len(batch) - 1))

    def _sampler(self, sampling: Sampling):
        """The same chain ``llama_cpp.Llama`` builds for these settings."""
        chain = self._internals.LlamaSampler()
        if sampling.temperature <= 0:
            chain.add_greedy()
        else:
            chain.add_top_k(0)
            chain.add_typical(1.0, 1)
            chain.add_top_p(sampling.top_p, 1)
            chain.add_min_p(0.0, 1)
            chain.add_temp(sampling.temperature)
            chain.add_dist(sampling.seed)
        return chain

    def _sample(self, run: _Running, row: int) -> int:
        token = run.sampler.sample(self._ctx, row)
        n = run.handle.sampling.logprobs
        if n is not None:  # the model's own distribution at this row (before temperature)
            [(logprob, _)], top = row_scores(self._ctx, row, self._n_vocab, [token], n)
            run.handle.token_logprobs.append(TokenLogprob(token, logprob, top))
        return token

    def _accept(self, run: _Running, token: int) -> None:
        handle = run.handle
        if handle.first_token is None:
            handle.first_token = time.perf_counter()
        run.next_token = None
        handle.token_ids.append(token)
        if self._lib.llama_vocab_is_eog(self._vocab, token):
            self._finish(run, "stop")
            return
        handle.completion_tokens += 1
        self._emit(handle, run.assembler.feed(self._piece(token)))
        if run.assembler.stopped:
            self._finish(run, "stop")
        elif handle.completion_tokens >= run.budget:
            self._finish(run, "length")
        else:
            run.next_token = token

    def _finish(self, run: _Running, reason: str) -> None:
        self._running.pop(run.slot, None)
        if reason not in ("cancelled", "error"):
            self._emit(run.handle, run.assembler.finish())
            if run.assembler.stopped:
                reason = "stop"
        run.sampler.close()
        self._settle(run.handle, reason)

    def _fail(self, run: _Running, exc: Exception) -> None:
        """llama.cpp failed: end the sequence and forget what its slot held."""
        run.handle.error = exc
        self._cached[run.slot].clear()
        mem = self._lib.llama_get_memory(self._ctx.ctx)
        self._lib.llama_memory_seq_rm(mem, run.slot, -1, -1)
        self._finish(run, "error")

    def _settle(self, handle: GenerationHandle, reason: str) -> None:
        handle.finish_reason = reason
        handle.timings = Timings.measure(handle.start, handle.first_token,
                                         handle.completion_tokens)
        handle.done.set()

    @staticmethod
    def _emit(handle: GenerationHandle, delta: str) -> None:
        if delta:
            handle.text += delta
            if handle.on_text is not None:
                handle.on_text(delta)
