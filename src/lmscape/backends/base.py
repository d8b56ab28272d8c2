"""The backend contract: one small method set plus capability flags.

A backend is batch-first: a list of requests in, a list of results back in the same
order. The public methods (``generate``, ``stream``, ``loglikelihood``, ``embed``,
``classify``, ``tag``) check the capability flags and then call the ``_``-prefixed method a
backend implements. Callers never check flags themselves.

Every result carries token usage and timings.
"""

from __future__ import annotations

import time
from abc import ABC
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from lmscape.errors import CapabilityError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}
CAPABILITIES = ("can_generate", "can_stream", "has_loglikelihood", "can_embed", "can_classify",
                "can_tag", "has_tokenizer")


@dataclass(frozen=True, kw_only=True)
class Request:
    """A generation request: a raw ``prompt``, chat ``messages``, or a prompt given as
    the model's ``token_ids`` (backends with ``has_tokenizer`` only; used as given, no
    BOS added)."""

    prompt: str | None = None
    messages: tuple[Message, ...] | list[Message] | None = None
    token_ids: tuple[int, ...] | None = None
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # record each sampled token's log-probability and this many alternatives, taken from
    # the very distribution it was drawn from (backends that can: ``Result.token_logprobs``)
    logprobs: int | None = None

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.prompt, self.messages, self.token_ids))
        if given != 1:
            raise ValueError("a Request needs exactly one of prompt=, messages= or token_ids=")
        if self.max_tokens < 0:
            raise ValueError("max_tokens must be >= 0")

    @property
    def is_chat(self) -> bool:
        return self.messages is not None


@dataclass(kw_only=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(kw_only=True)
class Timings:
    """Seconds. ``ttft_s`` is time to first token; ``tokens_per_s`` is output decode speed."""

    total_s: float = 0.0
    ttft_s: float | None = None
    tokens_per_s: float | None = None

    @classmethod
    def measure(cls, start: float, first_token: float | None, n_out: int) -> Timings:
        end = time.perf_counter()
        total = end - start
        ttft = (first_token - start) if first_token is not None else None
        decode = end - first_token if first_token is not None else total
        tps = (n_out - 1) / decode if n_out > 1 and decode > 0 else None
        return cls(total_s=total, ttft_s=ttft, tokens_per_s=tps)


@dataclass(kw_only=True)
class Result:
    """One generation."""

    text: str
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    finish_reason: str = "stop"  # "stop" | "length"
    model: str = ""
    prompt_ids: list[int] | None = None  # the prompt's tokens (backends with a tokenizer)
    token_ids: list[int] | None = None  # every sampled token, a final end-of-generation
    # token included (backends with a tokenizer; what logprobs are reported for)
    token_logprobs: list[TokenLogprob] | None = None  # one per ``token_ids``, recorded
    # while sampling when ``Request.logprobs`` asked for them and the backend can


@dataclass(kw_only=True)
class StreamChunk:
    """A piece of streamed output. The last chunk has ``done=True`` and usage/timings."""

    text: str = ""
    done: bool = False
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None


@dataclass(frozen=True, kw_only=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given ``context`` (used to rank fixed choices)."""

    context: str
    continuation: str


@dataclass(kw_only=True)
class LoglikelihoodResult:
    logprob: float  # sum of log-probabilities of the continuation tokens
    n_tokens: int  # continuation tokens scored
    is_greedy: bool  # every continuation token was the argmax
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class TokenLogprob:
    """One scored token: log P(token | the tokens before it), and the ``top`` most likely
    tokens at its position as (token id, log-probability), best first."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(kw_only=True)
class EmbedResult:
    vectors: Any  # numpy.ndarray, shape (n, dim), float32
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)


@dataclass(kw_only=True)
class ClassifyResult:
    probs: dict[str, float]  # label -> probability
    label: str
    timings: Timings = field(default_factory=Timings)


@dataclass(kw_only=True)
class TagResult:
    """Per-word tag probabilities of one text (token classification).

    ``spans`` are the character spans of the words the tokenizer split the text into,
    in text order; ``probs`` is an array of shape (len(spans), len(labels)) whose
    columns follow ``labels`` (e.g. ``("O", "B-KP", "I-KP")``).
    """

    spans: list[tuple[int, int]]
    labels: tuple[str, ...]
    probs: Any  # numpy.ndarray, float32
    timings: Timings = field(default_factory=Timings)


class Backend(ABC):
    """Base class for every backend.

    Subclasses set the capability flags and implement the matching ``_`` methods.
    ``model_id`` is the lmscape name used in results and reports.
    """

    name: ClassVar[str] = "base"
    can_generate: ClassVar[bool] = False
    can_stream: ClassVar[bool] = False
    has_loglikelihood: ClassVar[bool] = False
    can_embed: ClassVar[bool] = False
    can_classify: ClassVar[bool] = False
    can_tag: ClassVar[bool] = False
    has_tokenizer: ClassVar[bool] = False  # tokenize / detokenize / token_logprobs
    is_local: ClassVar[bool] = False

    # What the resolver, the gateway and `lmscape backends` need to know, declared here
    # and nowhere else (see backends/connection.py for how a connection is worked out).
    requires: ClassVar[tuple[str, ...]] = ()  # modules that must import for it to load
    extra: ClassVar[str | None] = None  # the `pip install 'lmscape[EXTRA]'` that installs them
    key_env: ClassVar[tuple[str, ...]] = ()  # remote: variables that hold the provider key
    base_url_env: ClassVar[str | None] = None  # remote: the SDK's own base-URL variable
    default_base_url: ClassVar[str | None] = None  # remote: the provider's endpoint
    wire: ClassVar[str | None] = None  # remote: a protocol the gateway may pass through

    model_id: str = ""

    @classmethod
    def capabilities_for(cls, model: str, options: dict[str, Any]) -> frozenset[str]:
        """The operations a model of this backend offers, before it is loaded.

        Class flags by default; backends whose flags depend on the model (a folder's
        architecture, an option) override this."""
        return frozenset(flag for flag in CAPABILITIES if getattr(cls, flag, False) is True)

    # -- public API: flag checks, then delegate -------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[Result]:
        self._require("can_generate", "generate text")
        requests = list(requests)
        if not requests:
            return []
        if any(r.token_ids is not None for r in requests):
            self._require("has_tokenizer", "take a prompt as token ids")
        results = self._generate(requests)
        assert len(results) == len(requests), "backend returned the wrong number of results"
        return results

    def stream(self, request: Request) -> Iterator[StreamChunk]:
        if request.token_ids is not None:
            self._require("has_tokenizer", "take a prompt as token ids")
        if self.can_stream:
            return self._stream(request)
        self._require("can_generate", "generate text")
        return self._stream_fallback(request)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self._require("has_loglikelihood", "score continuations (loglikelihood)")
        requests = list(requests)
        if not requests:
            return []
        return self._loglikelihood(requests)

    def embed(self, texts: Sequence[str]) -> EmbedResult:
        self._require("can_embed", "compute embeddings")
        return self._embed(list(texts))

    def classify(self, texts: Sequence[str]) -> list[ClassifyResult]:
        self._require("can_classify", "classify text")
        return self._classify(list(texts))

    def tag(self, texts: Sequence[str]) -> list[TagResult]:
        self._require("can_tag", "tag tokens (token classification)")
        return self._tag(list(texts))

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        """The model's token ids for ``text`` (``add_special``: with the BOS token the
        model expects at the start of a prompt). Special-token text is parsed."""
        self._require("has_tokenizer", "tokenize text")
        return self._tokenize_text(text, add_special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens``, special tokens written out."""
        self._require("has_tokenizer", "detokenize tokens")
        return self._detokenize(list(tokens))

    def token_text(self, token: int) -> bytes:
        """The bytes one token stands for (special tokens written out)."""
        self._require("has_tokenizer", "render a token")
        return self._token_text(token)

    def tokenizer_info(self) -> dict[str, Any]:
        """Facts about the tokenizer: ``bos_token``, ``eos_token`` (text), their ids,
        ``chat_template``, ``vocab_size``, ``model_max_length``."""
        self._require("has_tokenizer", "describe its tokenizer")
        return self._tokenizer_info()

    def token_logprobs(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], *,
                       top_n: int = 0) -> list[list[TokenLogprob]]:
        """For each (context ids, continuation ids): every continuation token scored
        given everything before it, with the ``top_n`` most likely tokens there. The
        same numbers as :meth:`loglikelihood` for the same tokens."""
        self._require("has_loglikelihood", "score tokens (logprobs)")
        self._require("has_tokenizer", "score token ids (logprobs)")
        pairs = [(list(c), list(t)) for c, t in pairs]
        if not pairs:
            return []
        return self._token_logprobs(pairs, top_n)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; backends with a tokenizer override this."""
        return max(1, len(text) // 4)

    @property
    def context_length(self) -> int | None:
        return None

    @property
    def concurrent_generations(self) -> int:
        """How many threads may call ``generate``/``stream`` at once. Above 1, the
        backend is thread-safe for them and concurrent calls share decode steps
        (continuous batching); a server lets that many requests in together."""
        return 1

    def info(self) -> dict[str, Any]:
        """Facts for reports: backend, model, flags, size on disk where known."""
        return {
            "backend": self.name,
            "model": self.model_id,
            "is_local": self.is_local,
            "can_stream": self.can_stream,
            "has_loglikelihood": self.has_loglikelihood,
            "can_embed": self.can_embed,
        }

    def close(self) -> None:
        """Release weights / connections. Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- to implement ----------------------------------------------------------------
    def _generate(self, requests: list[Request]) -> list[Result]:
        raise NotImplementedError

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        raise NotImplementedError

    def _loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise NotImplementedError

    def _embed(self, texts: list[str]) -> EmbedResult:
        raise NotImplementedError

    def _classify(self, texts: list[str]) -> list[ClassifyResult]:
        raise NotImplementedError

    def _tag(self, texts: list[str]) -> list[TagResult]:
        raise NotImplementedError

    def _tokenize_text(self, text: str, add_special: bool) -> list[int]:
        raise NotImplementedError

    def _detokenize(self, tokens: list[int]) -> str:
        raise NotImplementedError

    def _token_text(self, token: int) -> bytes:
        raise NotImplementedError

    def _tokenizer_info(self) -> dict[str, Any]:
        raise NotImplementedError

    def _token_logprobs(self, pairs: list[tuple[list[int], list[int]]],
                        top_n: int) -> list[list[TokenLogprob]]:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------
    def _stream_fallback(self, request: Request) -> Iterator[StreamChunk]:
        result = self._generate([request])[0]
        yield StreamChunk(text=result.text)
        yield StreamChunk(
            done=True,
            finish_reason=result.finish_reason,
            usage=result.usage,
            timings=result.timings,
        )

    def _require(self, flag: str, what: str) -> None:
        if not getattr(self, flag):
            raise CapabilityError(
                f"backend {self.name!r} (model {self.model_id or '?'}) cannot {what}",
                hint="pick a model whose backend supports it (see `lmscape models show ID`)",
            )
