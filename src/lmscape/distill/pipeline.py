"""``distill()``: label, train, measure, register. Guarantees in the numbered steps.

1. Everything a user can get wrong is checked before any model loads: the task, the
   model name, the student (it must be an encoder), the data files and their columns,
   and, with gold labels, the number of labelled items per class.
2. The teacher (unless ``gold``) labels the training texts through
   :mod:`lmscape.distill.teacher`: answers are stored as they arrive and reused by the
   next run, unparseable answers are counted, the cost is recorded. Then the number of
   usable labels per class is checked.
3. The strategy follows the labels: keyphrases -> BIO tagger; fewer than 64 labels in
   some class -> SetFit-style; otherwise end-to-end fine-tuning.
4. Training (:mod:`lmscape.distill.train`) checkpoints into
   ``$LMSCAPE_HOME/distill/NAME/``; running the same command again after a kill resumes
   from the last checkpoint. The model is written to a temporary folder and renamed to
   ``$LMSCAPE_HOME/models/NAME/`` only when complete, so a half-written model never
   appears under a name.
5. The model is added to the user catalog, then the student (and the teacher) run on
   the held-out items through the bench runner (:mod:`lmscape.distill.compare`); the
   results go into the model's lineage (catalog entry and ``lmscape_lineage.json``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmscape.bench.cache import digest
from lmscape.distill import data as data_mod
from lmscape.distill import registry
from lmscape.distill.compare import Row, compare
from lmscape.distill.students import STRATEGIES, student_path
from lmscape.distill.teacher import TeacherLabels, label_texts
from lmscape.distill.train import TrainSettings
from lmscape.errors import ConfigError
from lmscape.tasks.base import Item, Task

DEFAULTS: dict[str, dict[str, Any]] = {
    # chosen before looking at any dev/test item; see benchmarks/distill.py
    "fine-tune": {"epochs": 2.0, "batch_size": 32, "lr": 1e-4, "max_length": 128},
    "setfit": {"epochs": 1.0, "batch_size": 16, "lr": 2e-5, "max_length": 128},
    "bio-tagger": {"epochs": 2.0, "batch_size": 8, "lr": 1e-4, "max_length": 512},
}


@dataclass(kw_only=True)
class DistillResult:
    name: str
    path: Path
    task: str
    teacher: str
    strategy: str
    n_train: int
    teacher_labels: TeacherLabels | None
    train_stats: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return f"{self.name}/fine-tuned"


def _strategy(task: Task, counts: Any, asked: str) -> str:
    if asked not in STRATEGIES:
        raise ConfigError(f"strategy {asked!r} is not one of {', '.join(STRATEGIES)}",
                          hint="use --strategy auto")
    if not task.labels:
        if asked == "setfit":
            raise ConfigError("the SetFit-style student classifies; keyphrases need a tagger",
                              hint="drop --strategy (auto trains a BIO tagger)")
        return "bio-tagger"
    if asked != "auto":
        return asked
    return "setfit" if min(counts.values()) < data_mod.FEW_PER_CLASS else "fine-tune"


def _settings(strategy: str, seed: int, device: str | None, overrides: dict[str, Any]
              ) -> TrainSettings:
    values = {**DEFAULTS[strategy], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainSettings(seed=seed, device=device, **values)


def _train(strategy: str, base: Path, items: list[Item], task: Task, settings: TrainSettings,
           work: Path, run_key: str, out: Path, progress: Any) -> dict[str, Any]:
    from lmscape.distill import students

    if strategy == "bio-tagger":
        return students.train_tagger(base, items, settings, work, run_key, out, progress)
    if strategy == "setfit":
        from lmscape.distill.setfit import train_setfit

        return train_setfit(base, items, tuple(task.labels), settings, work, run_key, out,
                            progress)
    return students.train_classifier(base, items, tuple(task.labels), settings, work, run_key,
                                     out, progress)


def _items_digest(items: list[Item]) -> str:
    return digest([[it.id, it.text, it.reference] for it in items], 24)


def distill(task: str | Task, teacher: str = "gold", student: str = "all-minilm-l6-v2", *,
            data: str | None = None, eval_data: str | None = None,
            unlabelled: str | None = None, text_col: str | None = None,
            label_col: str | None = None, name: str | None = None,
            limit: int | None = None, eval_limit: int | None = None, strategy: str = "auto",
            epochs: float | None = None, batch_size: int | None = None,
            lr: float | None = None, max_length: int | None = None, max_steps: int | None = None,
            seed: int = 7, device: str | None = None, overwrite: bool = False,
            evaluate_teacher: bool = True, store: Any = None, progress: Any = None,
            on_teacher_done: Any = None) -> DistillResult:
    """Distil ``teacher`` (a system name, or ``"gold"``) into ``student``; see the module."""
    from lmscape.store import open_store
    from lmscape.tasks.registry import get_task

    task_obj = get_task(task) if isinstance(task, str) else task
    name = registry.check_name(name or registry.default_name(student, task_obj.name, teacher))
    out = registry.model_dir(name)
    if out.exists() and not overwrite:
        raise ConfigError(f"a model named {name!r} already exists ({out})",
                          hint="pick another --name, or pass --overwrite to replace it")
    base = student_path(student)
    dd = data_mod.load_data(task_obj, data=data, eval_data=eval_data, unlabelled=unlabelled,
                            text_col=text_col, label_col=label_col, limit=limit,
                            eval_limit=eval_limit, seed=seed)
    data_mod.check_teacher(teacher, dd)
    _strategy(task_obj, {"any": data_mod.FEW_PER_CLASS}, strategy)  # fails before any model
    counts: Any = None
    if teacher == "gold":
        counts = data_mod.check_enough(task_obj, dd.train, who="the gold labels")
    own_store = store is None
    store = store or open_store()
    try:
        labels: TeacherLabels | None = None
        train_items = dd.train
        if teacher != "gold":
            labels = _teach(store, teacher, task_obj, dd, progress)
            if on_teacher_done is not None:
                on_teacher_done(labels)
            train_items = labels.labelled(dd.texts_for_teacher())
            counts = data_mod.check_enough(task_obj, train_items,
                                           who=f"the teacher {teacher} "
                                           f"({labels.n_unparseable} unparseable answers)")
        chosen = _strategy(task_obj, counts, strategy)
        settings = _settings(chosen, seed, device, {"epochs": epochs, "batch_size": batch_size,
                                                    "lr": lr, "max_length": max_length,
                                                    "max_steps": max_steps})
        run_key = digest({"task": task_obj.name, "version": task_obj.version, "teacher": teacher,
                          "student": student, "strategy": chosen,
                          "settings": settings.as_dict(), "items": _items_digest(train_items)},
                         32)
        work = registry.work_dir(name)
        tmp_out = work / "model"
        if tmp_out.exists():
            shutil.rmtree(tmp_out)
        stats = _train(chosen, base, train_items, task_obj, settings, work, run_key, tmp_out,
                       progress)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out.rename(out)
        lineage: dict[str, Any] = {
            "kind": "distilled", "base": student, "teacher": teacher, "task": task_obj.name,
            "strategy": chosen, "data": dd.source,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "settings": settings.as_dict(), "metrics": {"train": stats},
        }
        if labels is not None:
            lineage["metrics"]["teacher_labels"] = _teacher_summary(labels)
        _register(name, out, lineage, student, chosen)
        result = DistillResult(name=name, path=out, task=task_obj.name, teacher=teacher,
                               strategy=chosen, n_train=len(train_items),
                               teacher_labels=labels, train_stats=stats, lineage=lineage)
        heldout_train = (lambda: list(task_obj.items(task_obj.train_split))) \
            if task_obj.train_split else None
        result.rows = compare(store, task_obj, dd.heldout, dd.source["heldout"],
                              student=result.system,
                              teacher=None if teacher == "gold" or not evaluate_teacher
                              else teacher,
                              progress=progress, train_items=heldout_train)
        lineage["metrics"]["heldout"] = [r.as_dict() for r in result.rows]
        _register(name, out, lineage, student, chosen)
        shutil.rmtree(work, ignore_errors=True)
        return result
    finally:
        if own_store:
            store.close()


def _teach(store: Any, teacher: str, task: Task, dd: data_mod.DistillData, progress: Any
           ) -> TeacherLabels:
    from lmscape.bench.suite import close_system
    from lmscape.methods.registry import build_system

    system = build_system(teacher, task)
    what = f"teacher {teacher}"
    try:
        return label_texts(
            store, system, task, dd.texts_for_teacher(),
            train_items=(lambda: list(task.items(task.train_split))) if task.train_split
            else None,
            on_start=(lambda total, done: progress.start(what, total, done)) if progress
            else None,
            on_batch=(lambda n: progress.advance(what, n)) if progress else None,
        )
    finally:
        if progress:
            progress.finish(what)
        close_system(system)


def _teacher_summary(labels: TeacherLabels) -> dict[str, Any]:
    n = len(labels.labels)
    return {"teacher": labels.teacher, "n_texts": n, "n_asked_last_run": labels.n_asked,
            "n_reused": labels.n_reused, "n_unparseable": labels.n_unparseable,
            "cost_usd": labels.cost_usd, "cost_basis": labels.cost_basis,
            "teacher_s": labels.wall_s}


def _register(name: str, out: Path, lineage: dict[str, Any], student: str, strategy: str
              ) -> None:
    description = {
        "fine-tune": "encoder fine-tuned for sequence classification (distilled)",
        "setfit": "sentence encoder, contrastively fine-tuned, + logistic-regression head "
                  "(SetFit-style, distilled)",
        "bio-tagger": "encoder fine-tuned for BIO token classification of keyphrases "
                      "(distilled)",
    }[strategy]
    registry.write_lineage(out, lineage)
    registry.add_to_catalog(registry.catalog_entry_for(
        name, path=out, backend="hf", lineage=lineage, base=student, description=description))
