"""A real OpenAI-compatible HTTP server on loopback playing a remote teacher.

It answers chat completions about the review in the prompt: the right sentiment word,
except for reviews numbered in ``unsure`` ("I cannot tell.", which no parser accepts)
and, while ``fail_from`` is set, a 400 error for reviews numbered at or above it
(held back until ``fail_when()`` is true, so a test can let the other batches in flight
finish first, however slow the machine).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from .helpers import POSITIVE


def _scripted_server_class():
    """``ScriptedServer`` from tests/backends/conftest.py, loaded by file path."""
    path = Path(__file__).resolve().parents[1] / "backends" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_lmscape_backend_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.ScriptedServer


ScriptedServer = _scripted_server_class()

_NUMBER = re.compile(r"\((\d+)\)")


class Teacher:
    def __init__(self, unsure: set[int] = frozenset(), fail_from: int | None = None,
                 fail_when: Callable[[], bool] | None = None) -> None:
        self.unsure, self.fail_from, self.fail_when = set(unsure), fail_from, fail_when
        self.asked: list[int] = []
        self.server = ScriptedServer(self.handle)

    def handle(self, seen, n):
        prompt = seen.body["messages"][-1]["content"]
        number = int(_NUMBER.search(prompt).group(1))
        if self.fail_from is not None and number >= self.fail_from:
            deadline = time.monotonic() + 60
            while self.fail_when and not self.fail_when():
                if time.monotonic() > deadline:  # fail the test plainly, not by a late 400
                    return 500, {"error": {"message": "fail_when never held in 60 s",
                                           "type": "server_error"}}
                time.sleep(0.02)
            return 400, {"error": {"message": "teacher refused", "type": "invalid_request"}}
        self.asked.append(number)
        if number in self.unsure:
            answer = "I cannot tell."
        else:
            answer = "positive" if any(p in prompt for p in POSITIVE) else "negative"
        usage = {"prompt_tokens": 40, "completion_tokens": 2, "total_tokens": 42}
        head = {"id": f"chatcmpl-{n}", "created": 0, "model": "teacher"}
        if seen.body.get("stream"):  # server-sent events, usage in the last chunk
            chunk = {**head, "object": "chat.completion.chunk"}
            return 200, [
                {**chunk, "choices": [{"index": 0, "finish_reason": None,
                                       "delta": {"role": "assistant", "content": answer}}]},
                {**chunk, "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]},
                {**chunk, "choices": [], "usage": usage},
            ]
        return 200, {**head, "object": "chat.completion", "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": answer}}]}

    def register(self, home: Path, name: str = "teacher-llm") -> str:
        """A user-catalog entry for the teacher (priced), as for a gateway; the system name."""
        home.mkdir(parents=True, exist_ok=True)
        entry = {
            "id": name, "name": "scripted teacher", "developer": "tests",
            "access": "closed", "size_class": "large", "licence": "test",
            "architecture": "a scripted OpenAI-compatible server",
            "price": {"input_per_mtok": 1.0, "output_per_mtok": 4.0,
                      "source": "test price for the scripted teacher", "as_of": "2026-01-01"},
            "run": {"backend": "openai", "model": "teacher",
                    "options": {"base_url": self.server.base_url, "api_key": "sk-test"}},
        }
        (home / "catalog.yaml").write_text(yaml.safe_dump({"models": [entry]}))
        return f"{name}/prompted"

    def close(self) -> None:
        self.server.close()
