"""Distillation: teacher labelling, student training, measurement, export (ONNX).

    from lmscape.distill import distill
    result = distill(task="sentiment", teacher="gemma-3-270m/few-shot-choice",
                     student="all-minilm-l6-v2", name="minilm-sst2")
    result.name          # usable as a model id: "minilm-sst2/fine-tuned"

| module          | does |
|-----------------|------|
| ``data``        | reads labelled / unlabelled items, splits off a held-out part, checks them |
| ``teacher``     | asks a teacher system for labels; every answer is stored as it arrives |
| ``tables``      | the teacher-label table and its migration |
| ``bio``         | keyphrases -> BIO word tags for token classification |
| ``train``       | the training loop: seeded, checkpointed, resumable, with progress |
| ``students``    | builds and trains the student (sequence classifier, BIO tagger, SetFit) |
| ``compare``     | student against teacher on the held-out items (the DistilBERT table) |
| ``registry``    | saves the model under ``$LMSCAPE_HOME/models`` and adds it to the user catalog |
| ``pipeline``    | :func:`distill`, the whole run |
| ``export``      | ONNX export, dynamic int8 quantisation, checked against the original |

Importing this package is cheap; torch loads only when training or exporting starts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["distill", "export_onnx"]


def __getattr__(name: str) -> Any:
    if name == "distill":
        from lmscape.distill.pipeline import distill

        return distill
    if name == "export_onnx":
        from lmscape.distill.export import export_onnx

        return export_onnx
    raise AttributeError(f"module 'lmscape.distill' has no attribute {name!r}")
