"""The ``openai`` backend: any OpenAI-compatible endpoint through the official SDK.

One adapter, many providers: OpenAI itself, vLLM, Ollama, the llama.cpp server,
OpenRouter and the lmscape gateway differ only in ``base_url`` and key::

    OpenAIBackend("gpt-4o-mini")                                   # api.openai.com
    OpenAIBackend("smollm2", base_url="http://127.0.0.1:8080/v1")  # a local server

| option              | default        | meaning                                               |
|---------------------|----------------|-------------------------------------------------------|
| base_url            | OpenAI's       | endpoint root, ending in ``/v1``                      |
| base_url_env        | —              | read base_url from this variable (e.g. a vLLM node's URL) |
| api_key / api_key_env | OPENAI_API_KEY | key, or the variable it is read from; loopback endpoints need none |
| timeout             | 60             | seconds per HTTP request                              |
| max_retries         | 4              | retries on 429 / 5xx / connection errors (backoff + jitter, Retry-After honoured) |
| concurrency         | 8              | requests in flight for a batch                        |
| prompt_mode         | "auto"         | prompts go to /v1/completions ("completions"), as one user chat message ("chat"), or completions falling back to chat on 404 ("auto") |
| supports_logprobs   | False          | the server returns prompt logprobs with echo (enables loglikelihood) |
| measure_ttft        | True           | generate through streaming to measure time to first token |
| stream_usage        | True           | ask for usage in streams (``stream_options.include_usage``) |
| max_tokens_param    | "max_tokens"   | "max_completion_tokens" for models that require it     |
| embed_batch_size    | 256            | texts per /v1/embeddings request                      |
| backoff_base / backoff_max | 0.5 / 30 | backoff seconds                                       |

The SDK's own retries are switched off, so every retry goes through
:mod:`lmscape.backends.retry` and is counted in ``info()["retries"]``.

Loglikelihood follows OpenAI's echo semantics: ``token_logprobs[i]`` is
log P(token i | tokens before it), and the continuation is every token whose
``text_offset`` falls inside it. Where a stream carries no usage (llama-cpp-python's
server ignores ``include_usage``), completion tokens are the streamed pieces and
prompt tokens are 0; ``measure_ttft=False`` gets the server's usage instead.

Known quirks of llama-cpp-python's server (0.3.x), seen in the tests:
start it with ``--interrupt_requests false`` or a concurrent request cuts the running
one short; its echo logprobs are shifted by one position (each token is scored with
the distribution that predicts the *next* token), so use the ``llamacpp`` backend
for loglikelihood there; and for a model without a pooling layer, a multi-text
embeddings request mixes up the texts' token vectors, so pass ``embed_batch_size=1``
(per-token vectors are mean-pooled here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from lmscape.backends.base import (
    Backend,
    EmbedResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Request,
    Result,
    StreamChunk,
    Timings,
    Usage,
)
from lmscape.backends.connection import connect, is_loopback
from lmscape.backends.openai_errors import classify_for_retry, map_error
from lmscape.backends.retry import RetryPolicy, RetryStats, call_with_retries
from lmscape.errors import (
    CapabilityError,
    ConfigError,
    ProviderError,
    UpstreamError,
    require,
)

T = TypeVar("T")

OPENAI_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"
PROMPT_MODES = ("auto", "completions", "chat")
_OPTIONS = {
    "supports_logprobs": False,
    "prompt_mode": "auto",
    "measure_ttft": True,
    "stream_usage": True,
    "max_tokens_param": "max_tokens",
    "embed_batch_size": 256,
    "backoff_base": 0.5,
    "backoff_max": 30.0,
}


class OpenAIBackend(Backend):
    """Chat, completion, streaming, embeddings and (optionally) loglikelihood."""

    name = "openai"
    can_generate = True
    can_stream = True
    can_embed = True
    is_local = False
    requires = ("openai",)
    extra = "openai"
    key_env = ("OPENAI_API_KEY",)
    base_url_env = "OPENAI_BASE_URL"  # the SDK's own variable, honoured the same way
    default_base_url = OPENAI_BASE_URL
    wire = "openai"  # the gateway passes OpenAI-shaped JSON straight through

    @classmethod
    def capabilities_for(cls, model: str, options: dict[str, Any]) -> frozenset[str]:
        caps = super().capabilities_for(model, options)
        return caps | {"has_loglikelihood"} if options.get("supports_logprobs") else caps

    def __init__(
        self,
        model: str,
        *,
        model_id: str = "",
        base_url: str | None = None,
        base_url_env: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 60,
        max_retries: int = 4,
        concurrency: int = 8,
        **kwargs: Any,
    ) -> None:
        openai = require("openai", extra="openai")
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown option(s) for the openai backend: {', '.join(unknown)}",
                hint="known options: " + ", ".join(sorted(_OPTIONS)),
            )
        opts = {**_OPTIONS, **kwargs}
        if opts["prompt_mode"] not in PROMPT_MODES:
            raise ConfigError(
                f"prompt_mode={opts['prompt_mode']!r} is not one of {', '.join(PROMPT_MODES)}",
                hint="use prompt_mode='completions' or 'chat'",
            )
        if concurrency < 1:
            raise ConfigError("concurrency must be >= 1", hint="pass concurrency=1 or more")
        self.model = model
        self.model_id = model_id or model
        conn = connect(type(self), {"base_url": base_url, "base_url_env": base_url_env,
                                    "api_key_env": api_key_env, "api_key": api_key})
        self.base_url = conn.require_configured(model_id or model) or OPENAI_BASE_URL
        self.api_key_env = conn.key_env[0]
        key = conn.api_key({"api_key": api_key}) or PLACEHOLDER_KEY
        self._api_key = key
        self.concurrency = concurrency
        self.timeout = timeout
        self.options = opts
        self.has_loglikelihood = bool(opts["supports_logprobs"])  # type: ignore[misc]
        self._prompt_mode = str(opts["prompt_mode"])
        self.policy = RetryPolicy(
            max_retries=max_retries,
            base_delay=float(opts["backoff_base"]),
            max_delay=float(opts["backoff_max"]),
        )
        self.retry_stats = RetryStats()
        self._stats_lock = threading.Lock()
        self._client = openai.OpenAI(
            api_key=key, base_url=self.base_url, timeout=timeout, max_retries=0
        )

    # -- plumbing --------------------------------------------------------------------
    def _call(self, fn: Callable[[], T]) -> T:
        """Run one SDK call with lmscape's retries; map the final failure."""
        local = RetryStats()
        try:
            return call_with_retries(
                fn, policy=self.policy, classify=classify_for_retry, stats=local
            )
        except Exception as exc:
            import openai

            if isinstance(exc, openai.OpenAIError):
                raise self._map(exc) from None
            raise
        finally:
            with self._stats_lock:
                self.retry_stats.calls += local.calls
                self.retry_stats.retries += local.retries
                self.retry_stats.slept_s += local.slept_s

    def _map(self, exc: Exception):
        return map_error(
            exc,
            base_url=self.base_url,
            model=self.model,
            api_key=self._api_key,
            api_key_env=self.api_key_env,
        )

    def _sampling(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            self.options["max_tokens_param"]: request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        return params

    def _route(self, request: Request) -> str:
        """"chat" or "completions" for this request."""
        if request.is_chat or self._prompt_mode == "chat":
            return "chat"
        return "completions"

    @staticmethod
    def _messages(request: Request) -> list[dict[str, str]]:
        if request.messages is not None:
            return [dict(m) for m in request.messages]
        return [{"role": "user", "content": request.prompt or ""}]

    def _with_fallback(self, request: Request, run: Callable[[str], T]) -> T:
        """Run on completions; in "auto" mode fall back to chat once if it is missing."""
        route = self._route(request)
        if route == "chat" or self._prompt_mode != "auto":
            return run(route)
        try:
            return run("completions")
        except ProviderError as exc:
            if exc.status_code != 404:
                raise
        self._prompt_mode = "chat"  # remember: this endpoint has no /v1/completions
        return run("chat")

    # -- generate --------------------------------------------------------------------
    def _generate(self, requests: list[Request]) -> list[Result]:
        if len(requests) == 1 or self.concurrency == 1:
            return [self._generate_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            futures = [pool.submit(self._generate_one, r) for r in requests]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _generate_one(self, request: Request) -> Result:
        if self.options["measure_ttft"]:
            return self._with_fallback(request, lambda route: self._collect_stream(request, route))
        return self._with_fallback(request, lambda route: self._generate_plain(request, route))

    def _generate_plain(self, request: Request, route: str) -> Result:
        params = self._sampling(request)
        start = time.perf_counter()
        if route == "chat":
            resp = self._call(
                lambda: self._client.chat.completions.create(
                    messages=self._messages(request), **params
                )
            )
            choice = resp.choices[0]
            text = choice.message.content or ""
        else:
            resp = self._call(
                lambda: self._client.completions.create(prompt=request.prompt or "", **params)
            )
            choice = resp.choices[0]
            text = choice.text or ""
        usage = _usage(resp.usage)
        timings = Timings.measure(start, None, usage.completion_tokens)
        return Result(
            text=text,
            usage=usage,
            timings=timings,
            finish_reason=_finish(choice.finish_reason),
            model=self.model_id,
        )

    def _collect_stream(self, request: Request, route: str) -> Result:
        parts: list[str] = []
        last: StreamChunk | None = None
        try:
            for chunk in self._stream_route(request, route):
                if chunk.done:
                    last = chunk
                else:
                    parts.append(chunk.text)
        except _StreamCut:
            if parts:
                raise
            # Some servers (llama-cpp-python) validate only after sending 200 and then
            # drop the stream; asking once more without streaming surfaces the real
            # error (context too long, …) or the answer.
            return self._generate_plain(request, route)
        assert last is not None
        return Result(
            text="".join(parts),
            usage=last.usage or Usage(),
            timings=last.timings or Timings(),
            finish_reason=last.finish_reason or "stop",
            model=self.model_id,
        )

    # -- stream ----------------------------------------------------------------------
    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        # _stream_route opens the HTTP stream before returning, so a missing
        # /v1/completions (404) surfaces here and "auto" mode can fall back to chat.
        return self._with_fallback(request, lambda route: self._stream_route(request, route))

    def _open_stream(self, request: Request, route: str, with_usage: bool):
        params = self._sampling(request)
        params["stream"] = True
        if with_usage:
            params["stream_options"] = {"include_usage": True}
        if route == "chat":
            return self._call(
                lambda: self._client.chat.completions.create(
                    messages=self._messages(request), **params
                )
            )
        return self._call(
            lambda: self._client.completions.create(prompt=request.prompt or "", **params)
        )

    def _stream_route(self, request: Request, route: str) -> Iterator[StreamChunk]:
        start = time.perf_counter()
        with_usage = bool(self.options["stream_usage"])
        try:
            stream = self._open_stream(request, route, with_usage)
        except Exception as exc:
            # Some servers reject stream_options; retry once without it.
            if with_usage and "stream_options" in str(exc):
                with_usage = False
                stream = self._open_stream(request, route, with_usage)
            else:
                raise
        return self._iter_stream(stream, start, route)

    def _iter_stream(self, stream: Any, start: float, route: str) -> Iterator[StreamChunk]:
        import openai

        first: float | None = None
        finish: str | None = None
        usage: Usage | None = None
        n_chunks = 0
        try:
            for event in stream:
                if getattr(event, "usage", None):
                    usage = _usage(event.usage)
                for choice in event.choices or ():
                    text = (
                        (choice.delta.content or "") if route == "chat" else (choice.text or "")
                    )
                    if choice.finish_reason:
                        finish = choice.finish_reason
                    if text:
                        if first is None:
                            first = time.perf_counter()
                        n_chunks += 1
                        yield StreamChunk(text=text)
        except openai.OpenAIError as exc:
            raise self._map(exc) from None
        finally:
            stream.close()
        if finish is None:
            raise _StreamCut(
                f"{self.base_url} (model {self.model}) ended the stream before finishing",
                hint="the server failed mid-answer; check its logs (or pass measure_ttft=False)",
            )
        if usage is None:
            # The server sent no usage: count streamed pieces (one token each on
            # llama.cpp, vLLM and OpenAI) and leave prompt tokens unknown (0).
            usage = Usage(prompt_tokens=0, completion_tokens=n_chunks)
        yield StreamChunk(
            done=True,
            finish_reason=_finish(finish),
            usage=usage,
            timings=Timings.measure(start, first, usage.completion_tokens),
        )

    # -- loglikelihood ---------------------------------------------------------------
    def _loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._map_concurrent(self._loglikelihood_one, requests)

    def _loglikelihood_one(self, req: LoglikelihoodRequest) -> LoglikelihoodResult:
        full = req.context + req.continuation
        start = time.perf_counter()
        resp = self._call(
            lambda: self._client.completions.create(
                model=self.model,
                prompt=full,
                max_tokens=1,
                temperature=0.0,
                echo=True,
                logprobs=1,
            )
        )
        choice = resp.choices[0]
        lp = choice.logprobs
        if lp is None or not lp.token_logprobs or lp.text_offset is None:
            raise CapabilityError(
                f"{self.base_url} returned no prompt logprobs for model {self.model}",
                hint="this server does not support echo+logprobs; set supports_logprobs=False "
                "(for llama-cpp-python's server start it with --logits_all true)",
            )
        begin, end = len(req.context), len(full)
        total, n, greedy = 0.0, 0, True
        for i, (tok, logprob, offset) in enumerate(
            zip(lp.tokens, lp.token_logprobs, lp.text_offset, strict=False)
        ):
            if offset < begin or offset >= end:
                continue
            if logprob is None:
                continue
            total += float(logprob)
            n += 1
            top = lp.top_logprobs[i] if lp.top_logprobs and i < len(lp.top_logprobs) else None
            if top:
                best = max(top.items(), key=lambda kv: kv[1])[0]
                greedy = greedy and best == tok
        usage = _usage(resp.usage)
        return LoglikelihoodResult(
            logprob=total,
            n_tokens=n,
            is_greedy=greedy and n > 0,
            usage=Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=0),
            timings=Timings(total_s=time.perf_counter() - start),
        )

    # -- embed -----------------------------------------------------------------------
    def _embed(self, texts: list[str]) -> EmbedResult:
        import numpy as np

        size = int(self.options["embed_batch_size"])
        start = time.perf_counter()
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        responses = self._map_concurrent(self._embed_chunk, chunks)
        vectors: list[list[float]] = []
        usage = Usage()
        for resp in responses:
            vectors.extend(
                _pooled(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)
            )
            if resp.usage is not None:
                usage.prompt_tokens += int(resp.usage.prompt_tokens or 0)
        array = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        return EmbedResult(
            vectors=array, usage=usage, timings=Timings(total_s=time.perf_counter() - start)
        )

    def _embed_chunk(self, chunk: list[str]):
        return self._call(lambda: self._client.embeddings.create(model=self.model, input=chunk))

    # -- misc ------------------------------------------------------------------------
    def _map_concurrent(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def info(self) -> dict[str, Any]:
        out = super().info()
        out.update(
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            concurrency=self.concurrency,
            prompt_mode=self._prompt_mode,
            requests=self.retry_stats.calls,
            retries=self.retry_stats.retries,
        )
        return out

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
            self._client = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"


class _StreamCut(UpstreamError):
    """The server closed a stream without a finish_reason."""


def _pooled(embedding: Any) -> list[float]:
    """One vector per text. llama.cpp servers without a pooling layer return one
    vector per token; those are mean-pooled here."""
    if embedding and isinstance(embedding[0], list):
        import numpy as np

        return np.asarray(embedding, dtype=np.float32).mean(axis=0).tolist()
    return embedding


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    return Usage(
        prompt_tokens=int(getattr(raw, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(raw, "completion_tokens", 0) or 0),
    )


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


__all__ = ["OpenAIBackend", "is_loopback"]
