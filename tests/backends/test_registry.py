import pytest

from lmscape.backends import registry
from lmscape.backends.base import Backend, Request
from lmscape.errors import CapabilityError, NotFoundError


class EchoBackend(Backend):
    name = "echo"
    can_generate = True

    def _generate(self, requests):
        from lmscape.backends.base import Result

        return [Result(text=r.prompt or "") for r in requests]


def test_unknown_backend_suggests_closest():
    with pytest.raises(NotFoundError, match="did you mean 'llamacpp'"):
        registry.get_backend_class("llamacp")


def test_register_and_lookup():
    registry.register("echo-test", EchoBackend)
    assert registry.get_backend_class("echo-test") is EchoBackend
    assert "echo-test" in registry.available()


def test_framework_checks_capability_flags():
    backend = EchoBackend()
    assert backend.generate([Request(prompt="a"), Request(prompt="b")])[1].text == "b"
    with pytest.raises(CapabilityError, match="cannot compute embeddings"):
        backend.embed(["x"])
    with pytest.raises(CapabilityError, match="loglikelihood"):
        backend.loglikelihood([])


def test_stream_falls_back_to_generate():
    chunks = list(EchoBackend().stream(Request(prompt="hello")))
    assert "".join(c.text for c in chunks) == "hello"
    assert chunks[-1].done


def test_request_needs_prompt_or_messages():
    with pytest.raises(ValueError):
        Request()
    with pytest.raises(ValueError):
        Request(prompt="a", messages=[{"role": "user", "content": "b"}])
