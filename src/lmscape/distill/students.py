"""Build and train students from an encoder (all-MiniLM-L6-v2 by default).

| strategy     | when                                     | model saved                       |
|--------------|------------------------------------------|-----------------------------------|
| ``fine-tune``| classification, >= 64 labels per class   | ``*ForSequenceClassification``, trained end to end |
| ``setfit``   | classification, fewer labels per class   | the encoder after contrastive fine-tuning + a logistic-regression head (``lmscape_head.json``) |
| ``bio-tagger``| keyphrases                              | ``*ForTokenClassification`` with tags O / B-KP / I-KP |

Every student is a transformers model directory that the ``hf`` backend loads by path,
so the saved model is used through the same interface as any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmscape.backends.hf import ENCODER_TYPES, detect_kind, resolve_path
from lmscape.backends.resolve import resolve
from lmscape.distill.bio import IGNORE, TAGS, window_labels
from lmscape.distill.train import TrainProgress, TrainSettings, train
from lmscape.errors import ConfigError, LmscapeError
from lmscape.tasks.base import Item

STRATEGIES = ("auto", "fine-tune", "setfit")


def student_path(student: str) -> Path:
    """The local directory of an encoder student; anything else is a one-line error."""
    resolved = resolve(student)
    hint = ("pick an encoder (BERT family) as the student, e.g. --student all-minilm-l6-v2, "
            "or a folder holding a BERT/DistilBERT/MiniLM model")
    if resolved.backend != "hf":
        raise ConfigError(f"student {student!r} is not an encoder (it runs on the "
                          f"{resolved.backend} backend)", hint=hint)
    try:
        path = resolve_path(resolved.model)
        kind = detect_kind(path)
    except LmscapeError as exc:
        raise ConfigError(f"student {student!r} cannot be used: {exc.message}", hint=hint) from None
    model_type = _model_type(path)
    if kind == "causal" or (model_type is not None and model_type not in ENCODER_TYPES):
        raise ConfigError(f"student {student!r} is not an encoder (model type {model_type}, "
                          f"kind {kind})", hint=hint)
    return path


def _model_type(path: Path) -> str | None:
    import json

    try:
        return json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def _tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def _collate(tokenizer: Any, label_pad: int | None):
    import torch

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        feats = [{k: v for k, v in r.items() if k != "labels"} for r in rows]
        batch = tokenizer.pad(feats, return_tensors="pt")
        if label_pad is None:
            batch["labels"] = torch.tensor([r["labels"] for r in rows], dtype=torch.long)
        else:
            width = batch["input_ids"].shape[1]
            batch["labels"] = torch.tensor(
                [r["labels"] + [label_pad] * (width - len(r["labels"])) for r in rows],
                dtype=torch.long)
        return dict(batch)

    return collate


def _load_base(auto_model: Any, path: Path, **kwargs: Any) -> Any:
    """``auto_model`` from the encoder at ``path``; its new head is initialised (seeded)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized: classifier" is the point here
    hf_logging.disable_progress_bar()
    try:
        return auto_model.from_pretrained(path, local_files_only=True, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def train_classifier(base: Path, items: list[Item], labels: tuple[str, ...],
                     settings: TrainSettings, work_dir: Path, run_key: str, out_dir: Path,
                     progress: TrainProgress | None = None) -> dict[str, Any]:
    """Fine-tune ``base`` end to end for sequence classification; save to ``out_dir``."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = _tokenizer(base)
    label_id = {lab: i for i, lab in enumerate(labels)}
    enc = tokenizer([it.text for it in items], truncation=True, max_length=settings.max_length)
    examples = [{**{k: enc[k][i] for k in enc}, "labels": label_id[it.reference]}
                for i, it in enumerate(items)]
    torch.manual_seed(settings.seed)
    model = _load_base(AutoModelForSequenceClassification, base, num_labels=len(labels),
                   id2label=dict(enumerate(labels)), label2id=label_id)
    stats = train(model, examples, _collate(tokenizer, None), settings, work_dir, run_key,
                  progress, what="fine-tuning")
    _save(model, tokenizer, out_dir)
    return stats


def train_tagger(base: Path, items: list[Item], settings: TrainSettings, work_dir: Path,
                 run_key: str, out_dir: Path, progress: TrainProgress | None = None
                 ) -> dict[str, Any]:
    """Train a BIO keyphrase tagger from ``base`` (documents cut into windows)."""
    import torch
    from transformers import AutoModelForTokenClassification

    from lmscape.backends.tagging import encode_windows

    tokenizer = _tokenizer(base)
    texts = [it.text for it in items]
    windows = encode_windows(tokenizer, texts, settings.max_length)
    labels = window_labels(windows, texts, [list(it.reference) for it in items])
    examples = [{**{k: v[w] for k, v in windows.features.items()}, "labels": labels[w]}
                for w in range(len(windows.owner))]
    torch.manual_seed(settings.seed)
    model = _load_base(AutoModelForTokenClassification, base, num_labels=len(TAGS),
                   id2label=dict(enumerate(TAGS)), label2id={t: i for i, t in enumerate(TAGS)})
    stats = train(model, examples, _collate(tokenizer, IGNORE), settings, work_dir, run_key,
                  progress, what="fine-tuning tagger")
    stats["n_windows"] = len(examples)
    _save(model, tokenizer, out_dir)
    return stats


def _save(model: Any, tokenizer: Any, out_dir: Path) -> None:
    from transformers.utils import logging as hf_logging

    out_dir.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    finally:
        hf_logging.enable_progress_bar()
