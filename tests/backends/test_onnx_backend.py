"""The onnx backend: registered, local, and a clear error for a folder that is not an
export. (Exports of real students are run in tests/distill/test_pipeline.py.)"""

from __future__ import annotations

import pytest

from lmscape.backends.registry import available, get_backend_class
from lmscape.errors import ModelLoadError


def test_registered_and_local():
    assert "onnx" in available()
    cls = get_backend_class("onnx")
    assert cls.is_local and cls.can_embed and not cls.can_generate


def test_a_folder_that_is_not_an_export(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="not an lmscape ONNX export") as info:
        get_backend_class("onnx")(str(tmp_path))
    assert "lmscape export MODEL --onnx" in info.value.hint
