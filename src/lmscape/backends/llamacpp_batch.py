"""Low-level pieces shared by the llamacpp scoring and generation engines.

- ``sequence_context``: a llama.cpp context on an already loaded model with room for
  several sequences (``n_seq_max``), unified or per-sequence KV cache.
- ``TokenBatch``: a ``llama_batch`` filled row by row; a row may belong to several
  sequences at once (that is how sequences share the KV cells of a common prefix).
- ``row_logprobs``: log-probabilities read from one output row of the last decode.

llama-cpp-python's high-level ``Llama`` decodes one sequence (id 0) at a time; these
pieces use its low-level API (``llama_batch``, ``llama_memory_*``, ``llama_decode``),
present throughout 0.3.x.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from lmscape.errors import BackendError

# Fewer rows than this in one llama_decode, or fewer tokens of one sequence, take other
# CPU kernel paths (a single query, small-batch matmuls) that round differently; the
# engines pad or re-decode to stay at or above it (see llamacpp_prefix).
MIN_ROWS = 8

_DEFAULTS_LOCK = threading.Lock()


@contextlib.contextmanager
def model_defaults(**fields: object) -> Iterator[None]:
    """Set ``llama_model_params`` fields that ``llama_cpp.Llama`` has no parameter for
    (``use_extra_bufts``) on the defaults it starts from, while a model loads here."""
    from llama_cpp import llama_cpp

    with _DEFAULTS_LOCK:
        original = llama_cpp.llama_model_default_params

        def defaults():
            params = original()
            for name, value in fields.items():
                setattr(params, name, value)
            return params

        llama_cpp.llama_model_default_params = defaults
        try:
            yield
        finally:
            llama_cpp.llama_model_default_params = original


def sequence_context(llm, *, n_ctx: int, n_seq_max: int, kv_unified: bool):
    """A new context on ``llm``'s model, with ``llm``'s settings except the window
    (``n_ctx`` cells in all), the number of sequences and the KV layout.

    ``kv_unified=True``: one pool of ``n_ctx`` cells shared by all sequences (a prefix
    copied to another sequence costs nothing). ``False``: one stream of
    ``n_ctx / n_seq_max`` cells per sequence (memory grows with ``n_seq_max``; each
    sequence's cells are laid out as if it ran alone).
    """
    from llama_cpp import _internals, llama_cpp

    params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    params.n_ctx = n_ctx
    params.n_seq_max = n_seq_max
    params.kv_unified = kv_unified
    context = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    return context


class TokenBatch:
    """A reusable ``llama_batch`` of up to ``capacity`` rows, each in up to
    ``n_seq_max`` sequences."""

    def __init__(self, capacity: int, n_seq_max: int) -> None:
        from llama_cpp import llama_cpp

        self._lib = llama_cpp
        self.capacity = capacity
        self._batch = llama_cpp.llama_batch_init(capacity, 0, n_seq_max)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    @property
    def room(self) -> int:
        return self.capacity - self.n

    def clear(self) -> None:
        self.n = 0

    def add(self, token: int, pos: int, seqs: Sequence[int], logits: bool) -> int:
        """Append one row; returns its index (the ``i`` of ``llama_get_logits_ith``)."""
        b, i = self._batch, self.n
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = len(seqs)
        for j, s in enumerate(seqs):
            b.seq_id[i][j] = s
        b.logits[i] = logits
        self.n = i + 1
        return i

    def decode(self, ctx) -> None:
        """Run the rows through the model (``ctx``: a ``LlamaContext``)."""
        if self.n == 0:
            return
        self._batch.n_tokens = self.n
        rc = self._lib.llama_decode(ctx.ctx, self._batch)
        if rc != 0:
            why = {1: "no room left in the KV cache", 2: "aborted"}.get(rc, "error")
            raise BackendError(
                f"llama_decode failed ({why}, code {rc}) on a batch of {self.n} tokens",
                hint="retry with a larger n_ctx or a smaller n_batch",
            )

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


def _row(ctx, row: int, n_vocab: int) -> tuple[np.ndarray, float, float]:
    """Logits of output row ``row`` (a view, valid until the next decode), their max and
    log-sum-exp."""
    from llama_cpp import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(ctx.ctx, row)
    if not ptr:
        raise BackendError(f"llama.cpp returned no logits for batch row {row}")
    x = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
    top = x.max()
    # exp in float32 (fast; relative error ~1e-7), summed in float64
    lse = float(top) + float(np.log(np.exp(x - top).sum(dtype=np.float64)))
    return x, float(top), lse


def row_logprobs(ctx, row: int, n_vocab: int, targets: Sequence[int]) -> list[tuple[float, bool]]:
    """(log-probability, is-argmax) of each target token at output row ``row`` of the
    last decode. The log-softmax is computed once per row."""
    x, top, lse = _row(ctx, row, n_vocab)
    return [(float(x[t]) - lse, bool(x[t] >= top)) for t in targets]


def row_scores(ctx, row: int, n_vocab: int, targets: Sequence[int], n: int
               ) -> tuple[list[tuple[float, bool]], tuple[tuple[int, float], ...]]:
    """``row_logprobs`` of one row, and its ``n`` most likely tokens as (token id,
    log-probability), best first (ties: lower id first); the log-softmax computed once."""
    x, top, lse = _row(ctx, row, n_vocab)
    return [(float(x[t]) - lse, bool(x[t] >= top)) for t in targets], _top(x, lse, n)


def _top(x: np.ndarray, lse: float, n: int) -> tuple[tuple[int, float], ...]:
    if n <= 0:
        return ()
    n = min(n, x.shape[0])
    best = np.argpartition(-x, n - 1)[:n]
    best = sorted(best.tolist(), key=lambda t: (-float(x[t]), t))
    return tuple((int(t), float(x[t]) - lse) for t in best)
