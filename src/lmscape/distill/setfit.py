"""SetFit-style student for very few labels (Tunstall et al. 2022), with
sentence-transformers and scikit-learn (no ``setfit`` package needed).

1. Contrastive fine-tuning of the sentence encoder: ``pairs_per_item`` rounds; in each,
   every labelled text is paired with a seeded random text of the same label (target
   cosine 1) and one of another label (target 0); the loss is the squared difference
   between the pair's cosine similarity and the target (SetFit's CosineSimilarityLoss).
   The loop is :func:`lmscape.distill.train.train`: seeded, checkpointed, resumable.
2. A logistic-regression head is fitted on the fine-tuned encoder's (normalised)
   embeddings of the labelled texts.
3. Saved as a sentence-transformers folder plus ``lmscape_head.json`` (labels, weights,
   bias), which the ``hf`` backend loads as a classifier.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from lmscape.distill.train import TrainProgress, TrainSettings, train
from lmscape.tasks.base import Item

HEAD_FILE = "lmscape_head.json"


def make_pairs(items: list[Item], rounds: int, seed: int) -> list[tuple[int, int, float]]:
    """(i, j, target) pairs: one same-label and one other-label partner per item per round."""
    rng = random.Random(seed)
    by_label: dict[Any, list[int]] = {}
    for i, it in enumerate(items):
        by_label.setdefault(it.reference, []).append(i)
    pairs = []
    for _ in range(rounds):
        for i, it in enumerate(items):
            same = [j for j in by_label[it.reference] if j != i]
            other = [j for lab, js in by_label.items() if lab != it.reference for j in js]
            if same:
                pairs.append((i, rng.choice(same), 1.0))
            if other:
                pairs.append((i, rng.choice(other), 0.0))
    return pairs


class _PairModel:
    """Wraps a SentenceTransformer so the shared training loop can drive it."""

    def __new__(cls, st: Any) -> Any:
        import torch

        class PairModel(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.st = st

            def get_input_embeddings(self) -> Any:
                return self.st[0].auto_model.get_input_embeddings()

            def forward(self, input_ids, attention_mask, b_input_ids, b_attention_mask,
                        labels, **_: Any) -> Any:
                a = self.st({"input_ids": input_ids, "attention_mask": attention_mask})
                b = self.st({"input_ids": b_input_ids, "attention_mask": b_attention_mask})
                cos = torch.nn.functional.cosine_similarity(a["sentence_embedding"],
                                                            b["sentence_embedding"])
                loss = torch.nn.functional.mse_loss(cos, labels)
                return type("Out", (), {"loss": loss})()

        return PairModel()


def train_setfit(base: Path, items: list[Item], labels: tuple[str, ...],
                 settings: TrainSettings, work_dir: Path, run_key: str, out_dir: Path,
                 progress: TrainProgress | None = None, rounds: int = 20) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(settings.seed)
    st = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    st.max_seq_length = settings.max_length
    tok = st.tokenizer
    enc = tok([it.text for it in items], truncation=True, max_length=settings.max_length)
    examples = []
    for i, j, target in make_pairs(items, rounds, settings.seed):
        examples.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                         "b_input_ids": enc["input_ids"][j],
                         "b_attention_mask": enc["attention_mask"][j], "labels": target})

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        a = tok.pad([{"input_ids": r["input_ids"], "attention_mask": r["attention_mask"]}
                     for r in rows], return_tensors="pt")
        b = tok.pad([{"input_ids": r["b_input_ids"], "attention_mask": r["b_attention_mask"]}
                     for r in rows], return_tensors="pt")
        return {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"],
                "b_input_ids": b["input_ids"], "b_attention_mask": b["attention_mask"],
                "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.float32)}

    stats = train(_PairModel(st), examples, collate, settings, work_dir, run_key, progress,
                  what="contrastive fine-tuning")
    st.eval()
    x = st.encode([it.text for it in items], normalize_embeddings=True, convert_to_numpy=True,
                  show_progress_bar=False)
    y = np.array([labels.index(it.reference) for it in items])
    clf = LogisticRegression(max_iter=2000, random_state=settings.seed).fit(x, y)
    coef, intercept = clf.coef_.astype(float), clf.intercept_.astype(float)
    if coef.shape[0] == 1:  # binary: logits [0, z] give softmax == sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    classes = [labels[int(c)] for c in clf.classes_]
    out_dir.mkdir(parents=True, exist_ok=True)
    st.save(str(out_dir))
    (out_dir / HEAD_FILE).write_text(json.dumps({
        "labels": classes, "weight": coef.tolist(), "bias": intercept.tolist(),
        "normalize": True, "source": "lmscape distill (SetFit-style logistic-regression head)",
    }))
    stats.update(n_pairs=len(examples), head="logistic regression")
    return stats
