"""Build OpenAI-shaped JSON (chat completions, completions, chunks, embeddings) fast.

Responses are plain dicts serialised once with :func:`dumps`; no response model is
validated on the hot path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from typing import Any

from starlette.responses import Response

from lmscape._version import __version__
from lmscape.backends.base import Result, Usage


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(obj: Any | bytes, status: int = 200) -> Response:
    body = obj if isinstance(obj, bytes) else dumps(obj)
    return Response(body, status_code=status, media_type="application/json")


def sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage_dict(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def sum_usage(results: list[Result]) -> Usage:
    return Usage(prompt_tokens=sum(r.usage.prompt_tokens for r in results),
                 completion_tokens=sum(r.usage.completion_tokens for r in results))


@functools.lru_cache(maxsize=1024)
def fingerprint(backend: str, model: str) -> str:
    """``system_fingerprint``: the backend, the weights or upstream model, and the
    lmscape version that answered (it changes when any of them does)."""
    digest = hashlib.sha256(f"{backend}\0{model}\0{__version__}".encode()).hexdigest()
    return "fp_" + digest[:10]


def chat_completion(model: str, result: Result, system_fingerprint: str | None = None
                    ) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "logprobs": None,
            "finish_reason": result.finish_reason or "stop",
        }],
        "usage": usage_dict(result.usage.prompt_tokens, result.usage.completion_tokens),
        "system_fingerprint": system_fingerprint,
    }


def text_completion(model: str, results: list[Result], system_fingerprint: str | None = None
                    ) -> dict[str, Any]:
    usage = sum_usage(results)
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "text": r.text, "logprobs": None, "finish_reason": r.finish_reason or "stop"}
            for i, r in enumerate(results)
        ],
        "usage": usage_dict(usage.prompt_tokens, usage.completion_tokens),
        "system_fingerprint": system_fingerprint,
    }


class ChunkMaker:
    """Successive ``chat.completion.chunk`` / ``text_completion`` stream events, in
    OpenAI's shape: every chunk carries ``system_fingerprint``, and, when the client
    asked for ``include_usage``, ``"usage": null`` until the final usage chunk."""

    def __init__(self, model: str, *, chat: bool, include_usage: bool = False,
                 system_fingerprint: str | None = None) -> None:
        self.model, self.chat = model, chat
        self.id = new_id("chatcmpl" if chat else "cmpl")
        self.created = int(time.time())
        self.object = "chat.completion.chunk" if chat else "text_completion"
        self.include_usage = include_usage
        self.system_fingerprint = system_fingerprint

    def _base(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        out = {"id": self.id, "object": self.object, "created": self.created,
               "model": self.model, "system_fingerprint": self.system_fingerprint,
               "choices": choices}
        if self.include_usage:
            out["usage"] = None
        return out

    def role(self) -> dict[str, Any]:
        return self._base([{"index": 0, "delta": {"role": "assistant", "content": ""},
                            "logprobs": None, "finish_reason": None}])

    def text(self, text: str) -> dict[str, Any]:
        if self.chat:
            return self._base([{"index": 0, "delta": {"content": text}, "logprobs": None,
                                "finish_reason": None}])
        return self._base([{"index": 0, "text": text, "logprobs": None, "finish_reason": None}])

    def finish(self, reason: str) -> dict[str, Any]:
        if self.chat:
            return self._base([{"index": 0, "delta": {}, "logprobs": None,
                                "finish_reason": reason}])
        return self._base([{"index": 0, "text": "", "logprobs": None, "finish_reason": reason}])

    def usage(self, prompt: int, completion: int) -> dict[str, Any]:
        out = self._base([])
        out["usage"] = usage_dict(prompt, completion)
        return out
