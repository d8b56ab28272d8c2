"""The items a distillation trains and is judged on.

| given                          | trained on                          | judged on (held out)        |
|--------------------------------|-------------------------------------|-----------------------------|
| nothing (bundled data)         | the task's train split              | the task's default split    |
| ``--data FILE``                | FILE less a seeded 20% hold-out     | that hold-out               |
| ``--eval-data FILE`` as well   | all of ``--data``                   | ``--eval-data``             |
| ``--unlabelled FILE``          | its texts, labelled by the teacher  | as above (gold labels)      |

With a teacher other than ``gold`` and no ``--unlabelled`` file, the teacher labels the
training texts and their gold labels are not used for training. The hold-out is chosen
by a seeded hash of each item id, so it does not depend on the file's order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmscape.errors import ConfigError, DataError
from lmscape.tasks.base import Item, Task
from lmscape.tasks.loading import iter_records, require_column

HOLDOUT_FRACTION = 0.2
MIN_PER_CLASS = 4  # below this, no student can be trained (SetFit needs pairs per class)
FEW_PER_CLASS = 64  # below this, the SetFit-style student is used
MIN_KEYPHRASE_DOCS = 8


@dataclass(kw_only=True)
class DistillData:
    task: Task
    train: list[Item]  # labelled with gold labels (when known)
    heldout: list[Item]  # gold-labelled, never trained on
    unlabelled: list[Item] = field(default_factory=list)  # from --unlabelled (no reference)
    source: dict[str, Any] = field(default_factory=dict)  # lineage: where the data came from

    def texts_for_teacher(self) -> list[Item]:
        return self.unlabelled or self.train


def _file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).expanduser().open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def in_holdout(item_id: str, seed: int, fraction: float = HOLDOUT_FRACTION) -> bool:
    h = hashlib.blake2b(f"holdout\x00{seed}\x00{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < fraction


def _seeded_subset(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    if limit is None or limit >= len(items):
        return items
    def key(it: Item) -> bytes:
        return hashlib.blake2b(f"{seed}\x00{it.id}".encode(), digest_size=8).digest()
    keep = {it.id for it in sorted(items, key=key)[:limit]}
    return [it for it in items if it.id in keep]


def read_unlabelled(path: str | Path, text_col: str | None) -> list[Item]:
    """Texts of a JSONL/CSV file (only the text column is needed)."""
    column = text_col or "text"
    items = []
    for record in iter_records(path):
        text = require_column(record, column, "--text-col")
        raw_id = record.data.get("id")
        item_id = str(raw_id) if raw_id not in (None, "") else f"line-{record.line}"
        items.append(Item(id=item_id, text=str(text)))
    return items


def load_data(task: Task, *, data: str | None = None, eval_data: str | None = None,
              unlabelled: str | None = None, text_col: str | None = None,
              label_col: str | None = None, limit: int | None = None,
              eval_limit: int | None = None, seed: int = 7) -> DistillData:
    """Read and check every item before any model loads."""
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, not {limit}", hint="pass --limit 1 or more")
    if data is not None and not Path(data).expanduser().is_file():
        raise DataError(f"data file {data} does not exist", hint="check the path given to --data")
    source: dict[str, Any] = {}
    if data is None:
        if not task.train_split:
            raise DataError(f"task {task.name!r} has no bundled train split",
                            hint="pass your labelled data with --data FILE")
        train = list(task.items(task.train_split, limit=limit, seed=seed))
        source["train"] = f"{task.name}:{task.train_split}"
    else:
        everything = list(task.items(data_file=data, text_col=text_col, label_col=label_col))
        source["train"] = f"{Path(data).name}@{_file_digest(data)}"
        source.update(heldout_path=str(Path(data).expanduser().resolve()),
                      text_col=text_col, label_col=label_col)
        if eval_data is None:
            train = [it for it in everything if not in_holdout(it.id, seed)]
            heldout = [it for it in everything if in_holdout(it.id, seed)]
            source["heldout"] = f"{source['train']} (seeded {HOLDOUT_FRACTION:.0%} hold-out)"
            if not heldout or not train:
                raise DataError(f"{data} has too few items to hold {HOLDOUT_FRACTION:.0%} out "
                                f"({len(everything)} items)",
                                hint="add items, or pass a separate --eval-data FILE")
        else:
            train = everything
        train = _seeded_subset(train, limit, seed)
    if eval_data is not None:
        heldout = list(task.items(data_file=eval_data, text_col=text_col, label_col=label_col))
        source["heldout"] = f"{Path(eval_data).name}@{_file_digest(eval_data)}"
        source.update(heldout_path=str(Path(eval_data).expanduser().resolve()),
                      text_col=text_col, label_col=label_col)
    elif data is None:
        heldout = list(task.items(task.default_split))
        source["heldout"] = f"{task.name}:{task.default_split}"
    heldout = _seeded_subset(heldout, eval_limit, seed)
    items_unlabelled: list[Item] = []
    if unlabelled is not None:
        items_unlabelled = _seeded_subset(read_unlabelled(unlabelled, text_col), limit, seed)
        source["unlabelled"] = f"{Path(unlabelled).name}@{_file_digest(unlabelled)}"
        if not items_unlabelled:
            raise DataError(f"{unlabelled} has no texts", hint="add one text per line")
    source.update(n_train=len(items_unlabelled or train), n_heldout=len(heldout), seed=seed)
    return DistillData(task=task, train=train, heldout=heldout, unlabelled=items_unlabelled,
                       source=source)


def check_teacher(teacher: str, data: DistillData) -> None:
    if teacher == "gold" and data.unlabelled:
        raise ConfigError("--unlabelled texts need a teacher to label them",
                          hint="pass --teacher SYSTEM (e.g. gemma-3-270m/few-shot-choice), "
                          "or drop --unlabelled to train on the gold labels")


def class_counts(items: list[Item], labels: tuple[str, ...]) -> dict[str, int]:
    counts = Counter(it.reference for it in items)
    return {label: counts.get(label, 0) for label in labels}


def check_enough(task: Task, items: list[Item], *, who: str) -> dict[str, int] | int:
    """Counts per class (classification) or documents (keyphrases); too few is an error."""
    if task.labels:
        counts = class_counts(items, tuple(task.labels))
        label, fewest = min(counts.items(), key=lambda kv: kv[1])
        if fewest < MIN_PER_CLASS:
            shown = ", ".join(f"{k} {v}" for k, v in counts.items())
            raise DataError(
                f"too few labelled items per class from {who}: {shown} "
                f"(class {label!r} has {fewest}; a student needs at least {MIN_PER_CLASS} "
                "of each)",
                hint=f"add labelled items of class {label!r} (or more texts for the teacher)",
            )
        return counts
    n = sum(1 for it in items if it.reference)
    if n < MIN_KEYPHRASE_DOCS:
        raise DataError(
            f"too few labelled documents from {who}: {n} (a tagger needs at least "
            f"{MIN_KEYPHRASE_DOCS})",
            hint="add documents with keyphrases (or more texts for the teacher)",
        )
    return n
