"""Real embedded models, loaded once per test session (they are read-only)."""

import pytest


@pytest.fixture(scope="session")
def gemma():
    import lmscape

    model = lmscape.get_model("gemma-3-270m")
    yield model
    model.close()


@pytest.fixture(scope="session")
def smollm():
    import lmscape

    model = lmscape.get_model("smollm2-135m-instruct")
    yield model
    model.close()


@pytest.fixture(scope="session")
def minilm():
    import lmscape

    model = lmscape.get_model("all-minilm-l6-v2")
    yield model
    model.close()
