"""``lmscape distill`` (teacher labels -> small student, measured against its teacher) and
``lmscape export MODEL --onnx [--int8]`` (edge export, checked against the original).

    lmscape distill --task sentiment --teacher gold --name minilm-sst2
    lmscape distill --task sentiment --teacher gemma-3-270m/few-shot-choice --limit 2000
    lmscape distill --task keywords --teacher gold --name minilm-inspec
    lmscape distill --task sentiment --teacher openai:gpt-4o-mini/prompted \\
        --data reviews.csv --text-col review --label-col stars
    lmscape export minilm-sst2 --onnx --int8
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

import typer

from lmscape.cli.app import console, err_console


class StageProgress:
    """One rich bar per stage (teacher labelling, training, held-out runs), with ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(TextColumn("{task.description:<44}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=err_console)
        self.ids: dict[str, int] = {}

    def __enter__(self) -> Self:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, what: str, total: int, done: int) -> None:
        self.ids[what] = self.bars.add_task(what[:44], total=total, completed=done)

    def advance(self, what: str, n: int) -> None:
        if what in self.ids:
            self.bars.advance(self.ids[what], n)

    def finish(self, what: str) -> None:
        if what in self.ids:
            task = self.bars.tasks[self.ids[what]]
            self.bars.update(self.ids[what], completed=task.total)


def _mb(n: int | None) -> str:
    return f"{n / 1e6:,.1f}" if n else "—"


def _num(x: float | None, fmt: str) -> str:
    return format(x, fmt) if x is not None else "—"


def comparison_table(rows, task_name: str, metric: str, title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in ("role", "system", metric, "agreement", "items/s", "p50 ms", "size MB",
                   "peak RSS MB", "$ / 1k items"):
        table.add_column(header, justify="left" if header in ("role", "system") else "right",
                         overflow="fold")
    for r in rows:
        quality = _num(r.quality, ".3f")
        if r.quality_low is not None and r.quality_high is not None:
            quality += f" [{r.quality_low:.3f}, {r.quality_high:.3f}]"
        table.add_row(r.role, r.system, quality, _num(r.agreement, ".3f"),
                      _num(r.items_per_s, ",.1f"),
                      _num(r.latency_p50_s * 1000 if r.latency_p50_s is not None else None,
                           ".2f"),
                      _mb(r.size_bytes), _mb(r.peak_rss_bytes),
                      _num(r.cost_per_1k_usd, ".5f"))
    return table


def distill_cmd(
    task: str = typer.Option(..., "--task", "-t", help="sentiment or keywords."),
    teacher: str = typer.Option("gold", "--teacher",
                                help="A system that labels the texts (e.g. "
                                "gemma-3-270m/few-shot-choice, openai:gpt-4o-mini/prompted), "
                                "or gold for the data's own labels."),
    student: str = typer.Option("all-minilm-l6-v2", "--student",
                                help="The encoder to train (catalog id or folder)."),
    data: Annotated[Path | None, typer.Option("--data", help="Labelled JSONL/CSV "
                                              "(default: the task's bundled train split).")]
    = None,
    eval_data: Annotated[Path | None, typer.Option("--eval-data", help="Held-out labelled "
                                                   "file (default: 20% of --data, or the "
                                                   "task's default split).")] = None,
    unlabelled: Annotated[Path | None, typer.Option("--unlabelled",
                                                    help="Texts for the teacher to label.")]
    = None,
    text_col: str = typer.Option(None, "--text-col", help="Text column of the files."),
    label_col: str = typer.Option(None, "--label-col", help="Label column of --data."),
    name: str = typer.Option(None, "--name", help="Name of the new model."),
    limit: int = typer.Option(None, "--limit", "-n", help="At most N training texts (seeded)."),
    eval_limit: int = typer.Option(None, "--eval-limit", help="At most N held-out items."),
    strategy: str = typer.Option("auto", "--strategy",
                                 help="auto, fine-tune or setfit (classification)."),
    epochs: float = typer.Option(None, "--epochs", help="Training epochs."),
    batch_size: int = typer.Option(None, "--batch-size", help="Training batch size."),
    lr: float = typer.Option(None, "--lr", help="Learning rate."),
    max_length: int = typer.Option(None, "--max-length", help="Tokens per text (window)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop training after N steps."),
    seed: int = typer.Option(7, "--seed", help="Seed for sampling, splits and training."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model of that name."),
    no_teacher_eval: bool = typer.Option(False, "--no-teacher-eval",
                                         help="Do not run the teacher on the held-out items."),
) -> None:
    """Train a small model on a teacher's (or the data's) labels; compare it to the teacher."""
    from lmscape.distill.pipeline import distill

    def teacher_done(labels) -> None:
        line = (f"teacher {labels.teacher}: {len(labels.labels)} texts "
                f"({labels.n_asked} asked now, {labels.n_reused} from the store), "
                f"{labels.n_unparseable} unparseable, cost ${labels.cost_usd:.4f}")
        err_console.print(line, highlight=False, soft_wrap=True)
        for example in labels.unparseable_examples:
            err_console.print(f"  unparseable: {example!r}", highlight=False, style="dim",
                              soft_wrap=True)

    with StageProgress() as progress:
        result = distill(task, teacher, student, data=str(data) if data else None,
                         eval_data=str(eval_data) if eval_data else None,
                         unlabelled=str(unlabelled) if unlabelled else None,
                         text_col=text_col, label_col=label_col, name=name, limit=limit,
                         eval_limit=eval_limit, strategy=strategy, epochs=epochs,
                         batch_size=batch_size, lr=lr, max_length=max_length,
                         max_steps=max_steps, seed=seed, device=device, overwrite=overwrite,
                         evaluate_teacher=not no_teacher_eval, progress=progress,
                         on_teacher_done=teacher_done)
    from lmscape.tasks.registry import get_task

    t = get_task(result.task)
    stats = result.train_stats
    console.print(f"[bold]{result.name}[/] ({result.strategy}, {result.n_train} training "
                  f"texts, {stats['steps']} steps in {stats['train_s']:.0f} s on "
                  f"{stats['device']}) saved to {result.path}", highlight=False, soft_wrap=True)
    console.print(comparison_table(result.rows, result.task, t.primary_metric,
                                   f"{result.name} against its teacher on "
                                   f"{result.lineage['data'].get('heldout')}"))
    console.print(f"use it: lmscape bench --task {result.task} --systems {result.system}",
                  style="dim", highlight=False, soft_wrap=True)


def export_cmd(
    model: str = typer.Argument(..., help="A distilled model's name (or a model folder)."),
    onnx: bool = typer.Option(False, "--onnx", help="Export to ONNX (the only format so far)."),
    int8: bool = typer.Option(False, "--int8", help="Also quantise weights to int8 (dynamic)."),
    name: str = typer.Option(None, "--name", help="Name of the exported model."),
    check_items: int = typer.Option(200, "--check-items",
                                    help="Real inputs the export is checked on."),
) -> None:
    """Export a model for the edge (ONNX, optionally int8), checked against the original."""
    from lmscape.distill.export import export_onnx
    from lmscape.errors import ConfigError

    if not onnx:
        raise ConfigError("no export format chosen", hint="pass --onnx (optionally --int8)")
    report = export_onnx(model, int8=int8, name=name, n_check=check_items)
    console.print(f"[bold]{report.name}[/] written to {report.path} "
                  f"({report.size_bytes / 1e6:.1f} MB, {report.strategy})", highlight=False,
                  soft_wrap=True)
    console.print(f"checked on {report.n_checked} real inputs: label agreement "
                  f"{report.agreement:.4f} (must be >= {report.min_agreement}), largest "
                  f"probability difference {report.max_prob_diff:.4f} "
                  f"(must be <= {report.max_prob_tolerance})", highlight=False, soft_wrap=True)
    console.print(f"use it: lmscape bench --task {report.task} --systems "
                  f"{report.name}/fine-tuned", style="dim", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("distill")(distill_cmd)
    app.command("export")(export_cmd)
