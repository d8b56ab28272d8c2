"""Real embedded models, loaded once per test session (they are read-only).

llama.cpp models run on one thread: on a shared, oversubscribed machine its thread
barriers stall; these tests check behaviour, not speed (benchmarks/ measure speed)."""

import pytest


@pytest.fixture(scope="session")
def gemma():
    import lmscape

    model = lmscape.get_model("gemma-3-270m", n_threads=1)
    yield model
    model.close()


@pytest.fixture(scope="session")
def smollm():
    import lmscape

    model = lmscape.get_model("smollm2-135m-instruct", n_threads=1)
    yield model
    model.close()


@pytest.fixture(scope="session")
def minilm():
    import lmscape

    model = lmscape.get_model("all-minilm-l6-v2")
    yield model
    model.close()
