"""The public Python API is importable from ``lmscape`` and costs nothing to import."""

from __future__ import annotations

import subprocess
import sys

import lmscape


def test_every_exported_name_resolves():
    assert set(lmscape.__all__) == {"__version__", *lmscape._EXPORTS}
    for name in lmscape.__all__:
        assert getattr(lmscape, name) is not None, name
    assert issubclass(lmscape.ProviderError, lmscape.LmscapeError)
    request = lmscape.Request(messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert request.is_chat


def test_import_lmscape_loads_nothing_heavy():
    code = ("import sys, lmscape; lmscape.resolve('gpt-4o'); lmscape.Request(prompt='x'); "
            "print(sorted(m for m in ('torch', 'llama_cpp', 'transformers', 'openai', "
            "'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
