"""Causal LM engine for the ``hf`` backend (GPT-Neo, GPT-J, Llama family…).

* ``generate``: greedy requests that share stop strings run together in
  length-sorted, left-padded batches; sampled requests run one by one so that each
  ``seed`` reproduces. Time to first token comes from a streamer that notes when the
  first new token arrives.
* ``stream``: ``TextIteratorStreamer`` with generation in a worker thread; stop
  strings are held back until they can no longer be the start of a stop string.
* ``loglikelihood``: exact sums of continuation-token log-probabilities (the context
  is tokenized on its own and the continuation is the rest, as lm-evaluation-harness
  does), batched with right padding; ``is_greedy`` when every continuation token is the
  argmax.
* chat: the tokenizer's chat template when it has one, else a plain transcript.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers.generation.streamers import BaseStreamer, TextIteratorStreamer

from lmscape.backends.base import (
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Request,
    Result,
    StreamChunk,
    Timings,
    Usage,
)
from lmscape.backends.hf_common import length_batches, load_pretrained
from lmscape.errors import ContextLengthError


class _FirstTokenClock(BaseStreamer):
    """Counts generate()'s calls to ``put``: the first is the prompt, the second the
    first new token (for every row of the batch)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


class _CountingStreamer(TextIteratorStreamer):
    """A TextIteratorStreamer that also counts new tokens and times the first one."""

    def __init__(self, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True, **kwargs)
        self.seen_prompt = False
        self.n_new = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        if self.seen_prompt:
            self.n_new += int(value.numel())
            if self.first is None:
                self.first = time.perf_counter()
        self.seen_prompt = True
        super().put(value)


class _StopFlag:
    """A stopping criterion the stream consumer sets once a stop string appears."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        done = self.event.is_set()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters could still be the start of a stop string."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return hold


class CausalEngine:
    """Generation, streaming and loglikelihood on a transformers causal LM."""

    def __init__(
        self,
        path: Path,
        *,
        device: str,
        dtype: Any,
        batch_size: int,
        max_length: int | None,
        trust_remote_code: bool,
    ) -> None:
        from transformers import AutoModelForCausalLM

        self.device, self.batch_size = device, batch_size
        self.tokenizer, self.model = load_pretrained(
            path, AutoModelForCausalLM, device=device, dtype=dtype,
            trust_remote_code=trust_remote_code,
        )
        tok = self.tokenizer
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        config = self.model.config
        limit = (
            getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None)
            or getattr(config, "max_sequence_length", None)
        )
        self.context_length: int | None = max_length or limit
        self.eos_ids = self._eos_ids()
        self.has_chat_template = bool(getattr(tok, "chat_template", None))

    def _eos_ids(self) -> set[int]:
        ids = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(int(e) for e in eos)
        return ids

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- prompts ---------------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list[int]:
        """Token ids of the request's prompt (chat rendered through the template)."""
        if request.messages is None:
            return list(self.tokenizer(request.prompt or "")["input_ids"])
        messages = [dict(m) for m in request.messages]
        if self.has_chat_template:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        lines = [f"{m['role']}: {m['content']}" for m in messages]
        return list(self.tokenizer("\n".join(lines) + "\nassistant:")["input_ids"])

    def _budget(self, n_prompt: int, max_tokens: int) -> int:
        """New tokens allowed; raises when the prompt alone does not fit."""
        if self.context_length is None:
            return max_tokens
        if n_prompt >= self.context_length:
            raise ContextLengthError(n_prompt, self.context_length)
        return min(max_tokens, self.context_length - n_prompt)

    # -- generate --------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Result]:
        prompts = [self.prompt_ids(r) for r in requests]
        budgets = [self._budget(len(p), r.max_tokens) for p, r in zip(prompts, requests,
                                                                     strict=True)]  # fmt: skip
        results: list[Result | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            if req.temperature > 0:
                results[i] = self._run(
                    [prompts[i]], [budgets[i]], req.stop, sample=req
                )[0]
            else:
                groups.setdefault(tuple(req.stop), []).append(i)
        for stops, members in groups.items():
            lengths = [len(prompts[i]) for i in members]
            for local in length_batches(lengths, self.batch_size):
                idx = [members[j] for j in local]
                outs = self._run([prompts[i] for i in idx], [budgets[i] for i in idx], stops)
                for i, out in zip(idx, outs, strict=True):
                    results[i] = out
        return [r for r in results if r is not None]

    def _left_pad(self, prompts: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            if p:
                ids[row, width - len(p) :] = torch.tensor(p)
                mask[row, width - len(p) :] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def _gen_kwargs(self, budget: int, stops: tuple[str, ...], sample: Request | None) -> dict:
        kwargs: dict[str, Any] = {
            "max_new_tokens": budget,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample is not None:
            kwargs.update(do_sample=True, temperature=sample.temperature, top_p=sample.top_p,
                          top_k=0)  # fmt: skip
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops:
            kwargs.update(stop_strings=list(stops), tokenizer=self.tokenizer)
        return kwargs

    def _run(
        self,
        prompts: list[list[int]],
        budgets: list[int],
        stops: tuple[str, ...],
        sample: Request | None = None,
    ) -> list[Result]:
        start = time.perf_counter()
        budget = max(budgets)
        if budget == 0:
            return [
                Result(text="", usage=Usage(prompt_tokens=len(p)), finish_reason="length",
                       timings=Timings(total_s=time.perf_counter() - start))
                for p in prompts
            ]  # fmt: skip
        if sample is not None and sample.seed is not None:
            torch.manual_seed(sample.seed)
        inputs = self._left_pad(prompts)
        clock = _FirstTokenClock()
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, streamer=clock, **self._gen_kwargs(budget, stops, sample)
            )
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        results = []
        for p, own_budget, tokens in zip(prompts, budgets, new, strict=True):
            tokens = tokens[:own_budget]
            hit_eos = False
            for k, t in enumerate(tokens):
                if t in self.eos_ids:
                    tokens, hit_eos = tokens[:k], True
                    break
            text, hit_stop = cut_at_stop(
                self.tokenizer.decode(tokens, skip_special_tokens=True), stops
            )
            n_out = self.count_tokens(text) if hit_stop else len(tokens)
            stopped = hit_eos or hit_stop
            results.append(
                Result(
                    text=text,
                    usage=Usage(prompt_tokens=len(p), completion_tokens=n_out),
                    timings=Timings.measure(start, clock.first, n_out),
                    finish_reason="stop" if stopped else "length",
                )
            )
        return results

    # -- stream ----------------------------------------------------------------------
    def stream(self, request: Request) -> Iterator[StreamChunk]:
        prompt = self.prompt_ids(request)
        budget = self._budget(len(prompt), request.max_tokens)
        return self._stream(request, prompt, budget)

    def _stream(self, request: Request, prompt: list[int], budget: int) -> Iterator[StreamChunk]:
        from transformers import StoppingCriteriaList

        start = time.perf_counter()
        if budget == 0:
            yield StreamChunk(done=True, finish_reason="length",
                              usage=Usage(prompt_tokens=len(prompt)), timings=Timings())  # fmt: skip
            return
        sample = request if request.temperature > 0 else None
        if sample is not None and sample.seed is not None:
            torch.manual_seed(sample.seed)
        streamer = _CountingStreamer(self.tokenizer, timeout=600)
        flag = _StopFlag()
        kwargs = self._gen_kwargs(budget, (), sample)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([flag]))
        inputs = self._left_pad([prompt])
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        stops = tuple(s for s in request.stop if s)
        sent, buffer, hit_stop, drained = 0, "", False, False
        try:
            for piece in streamer:
                buffer += piece
                text, hit_stop = cut_at_stop(buffer, stops)
                if hit_stop:
                    flag.event.set()
                    if len(text) > sent:
                        yield StreamChunk(text=text[sent:])
                    sent = len(text)
                    break
                ready = len(text) - _held_back(text, stops)
                if ready > sent:
                    yield StreamChunk(text=text[sent:ready])
                    sent = ready
            else:
                drained = True
        finally:
            flag.event.set()
            if not drained:  # stopped early or abandoned: let the worker finish
                for _ in streamer:
                    pass
            thread.join()
        if failure:
            raise failure[0]
        if not hit_stop:
            text, _ = cut_at_stop(buffer, stops)
            if len(text) > sent:
                yield StreamChunk(text=text[sent:])
            final = text
        else:
            final = buffer[:sent]
        n_out = self.count_tokens(final) if hit_stop else streamer.n_new
        eos_seen = streamer.n_new < budget
        yield StreamChunk(
            done=True,
            finish_reason="stop" if hit_stop or eos_seen else "length",
            usage=Usage(prompt_tokens=len(prompt), completion_tokens=n_out),
            timings=Timings.measure(start, streamer.first, n_out),
        )

    # -- loglikelihood ---------------------------------------------------------------
    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Token ids of context and continuation, split as lm-evaluation-harness does:
        trailing spaces move to the continuation, the context is tokenized on its own
        and the continuation is whatever the whole adds after it. An empty context
        becomes the BOS (or EOS) token."""
        tok = self.tokenizer
        if not context:
            prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
            return [prefix], list(tok(continuation, add_special_tokens=False)["input_ids"])
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces and n_spaces < len(context):
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = list(tok(context + continuation)["input_ids"])
        ctx = list(tok(context)["input_ids"])
        return ctx, whole[len(ctx) :]

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        pairs = [self.encode_pair(r.context, r.continuation) for r in requests]
        limit = self.context_length
        rows: list[tuple[list[int], int]] = []  # (input ids, number of continuation tokens)
        for ctx, cont in pairs:
            full = ctx + cont
            if limit is not None and len(full) > limit + 1:
                if len(cont) > limit:
                    raise ContextLengthError(len(cont), limit)
                full = full[-(limit + 1) :]
            rows.append((full[:-1], len(cont)))
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            for idx in length_batches([len(r[0]) for r in rows], self.batch_size):
                start = time.perf_counter()
                width = max(len(rows[i][0]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for b, i in enumerate(idx):
                    seq = rows[i][0]
                    ids[b, : len(seq)] = torch.tensor(seq)
                    mask[b, : len(seq)] = 1
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits
                share = (time.perf_counter() - start) / len(idx)
                for b, i in enumerate(idx):
                    seq, n_cont = rows[i]
                    cont = pairs[i][1]
                    logprob, greedy = 0.0, True
                    if n_cont:
                        end = len(seq)
                        span = logits[b, end - n_cont : end].float().log_softmax(-1)
                        tgt = torch.tensor(cont[-n_cont:], device=span.device)
                        picked = span.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
                        logprob = float(picked.double().sum())
                        greedy = bool((span.argmax(-1) == tgt).all())
                    results[i] = LoglikelihoodResult(
                        logprob=logprob,
                        n_tokens=n_cont,
                        is_greedy=greedy,
                        usage=Usage(prompt_tokens=len(seq) + 1),
                        timings=Timings(total_s=share),
                    )
        return [r for r in results if r is not None]
