"""``lmscape bench`` (run benchmarks, print leaderboards, write report.html) and
``lmscape tasks`` (list tasks and their methods)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self

import typer

from lmscape.cli.app import console, err_console

if TYPE_CHECKING:
    from lmscape.bench.breakdown import Breakdown

DEFAULT_OUT = Path("report.html")


class RichProgress:
    """One bar per system plus an overall bar, each with an ETA (rich.progress)."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bars = Progress(TextColumn("{task.description:<40}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                             TimeRemainingColumn(), console=err_console, transient=True)
        self.overall = self.bars.add_task("[bold]overall", total=total)
        self.current: dict[str, int] = {}

    def __enter__(self) -> Self:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, system: str, total: int, done: int) -> None:
        from lmscape.report.names import label_within

        self.current[system] = self.bars.add_task(label_within(system, 40), total=total,
                                                  completed=done)
        self.bars.advance(self.overall, done)

    def advance(self, system: str, n: int) -> None:
        self.bars.advance(self.current[system], n)
        self.bars.advance(self.overall, n)

    def finish(self, system: str) -> None:
        task_id = self.current.get(system)
        if task_id is not None:
            total = self.bars.tasks[task_id].total or 0
            left = total - self.bars.tasks[task_id].completed
            self.bars.update(task_id, completed=total)
            self.bars.advance(self.overall, left)


def bench(
    task: str = typer.Option(None, "--task", "-t", help="Task to run (default: the suite)."),
    systems: str = typer.Option(None, "--systems", "-s",
                                help="Comma-separated systems, e.g. vader,gemma-3-270m/few-shot-choice."),
    data: Annotated[Path | None, typer.Option("--data", help="Your own JSONL or CSV file.")]
    = None,
    text_col: str = typer.Option(None, "--text-col", help="Text column of --data."),
    label_col: str = typer.Option(None, "--label-col", help="Label/reference column of --data."),
    limit: int = typer.Option(None, "--limit", "-n", help="At most N items (seeded sample)."),
    split: str = typer.Option(None, "--split", help="Split of the built-in dataset."),
    resume: bool = typer.Option(False, "--resume", help="Continue killed runs; skip stored items."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute cached predictions."),
    seed: int = typer.Option(7, "--seed", help="Sampling seed for --limit."),
    threads: int = typer.Option(None, "--threads", min=1,
                                help="CPU threads per local model (default: LMSCAPE_THREADS, "
                                     "else every core)."),
    base_url: str = typer.Option(None, "--base-url",
                                 help="Endpoint for the remote models of --systems, e.g. "
                                      "http://127.0.0.1:8080/v1 (also: openai:MODEL@URL, "
                                      "or OPENAI_BASE_URL)."),
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML report to write.")]
    = DEFAULT_OUT,
    executor: str = typer.Option("local", "--executor",
                                 help="Where batches run: local (this process) or ray."),
    address: str = typer.Option(None, "--address",
                                help="Ray cluster: auto (joined with `ray start`) or "
                                     "ray://HEAD:10001 (default: a local Ray instance)."),
    workers: int = typer.Option(None, "--workers", help="Ray workers per system "
                                "(default: the cluster's CPUs / --worker-cpus)."),
    chunk_size: int = typer.Option(None, "--chunk-size",
                                   help="Items per Ray chunk, rounded to whole batches."),
    worker_cpus: int = typer.Option(None, "--worker-cpus",
                                    help="CPUs (and model threads) per Ray worker; default 1."),
    jobs: int = typer.Option(None, "--jobs", "-j", min=1,
                             help="Systems run at once, each in its own process with its "
                                  "share of the threads (default: one per core, at most 4, "
                                  "for the default suite; else 1)."),
) -> None:
    """Run systems on tasks; print leaderboards; write an HTML report.

    With no arguments: the default suite (sentiment, keywords, dialogue) on the embedded
    local models and classic baselines. Ends with where the time went (per system and
    for one-off work) and the command's own wall time, CPU time and peak RSS.
    """
    from lmscape.bench.breakdown import Breakdown, PhaseClock
    from lmscape.bench.executor import make_executor
    from lmscape.bench.measure import process_usage
    from lmscape.bench.suite import custom_plan, default_plans, run_plans
    from lmscape.errors import DataError
    from lmscape.store import open_store

    clock = PhaseClock()
    started = process_usage()
    clock.add("start-up (interpreter, imports)", started.wall_s, started.cpu_s)
    if threads:
        os.environ["LMSCAPE_THREADS"] = str(threads)
    if task is None and (systems or data or text_col or label_col or split):
        raise DataError("--systems, --data, --split and column options need --task",
                        hint="add --task sentiment (or keywords, dialogue); see `lmscape tasks`")
    from lmscape.methods.registry import split_systems

    chosen = split_systems(systems) if systems else None
    with clock.phase("reading items"):
        if task is None:
            # --seed only changes the suite's sample together with --limit
            plans = default_plans() if limit is None else default_plans(limit=limit, seed=seed)
        else:
            plans = [custom_plan(task, chosen, split=split,
                                 data_file=str(data) if data else None, text_col=text_col,
                                 label_col=label_col, limit=limit, seed=seed)]
    jobs = _jobs(jobs, suite=task is None, executor=executor)
    runs_on = make_executor(executor, address=address, workers=workers,
                            chunk_size=chunk_size, worker_cpus=worker_cpus)
    store = open_store()
    total = sum(len(p.spec.items) * len(p.systems) for p in plans)

    def skipped(task_name: str, system: str, why: str) -> None:
        err_console.print(f"[yellow]skipped[/] {task_name}/{system}: {why}", highlight=False)

    try:
        with RichProgress(total) as progress:
            if jobs > 1:
                from lmscape.bench.breakdown import running_phase
                from lmscape.bench.parallel import run_parallel

                with clock.phase(running_phase(jobs)):
                    result = run_parallel(store, plans, jobs, resume=resume,
                                          use_cache=not no_cache, progress=progress,
                                          on_skip=skipped, base_url=base_url)
            else:
                result = run_plans(store, plans, resume=resume, use_cache=not no_cache,
                                   progress=progress, on_skip=skipped, base_url=base_url,
                                   executor=runs_on)
        names = [p.task.name for p in plans]
        with clock.phase("leaderboards"):
            _print_boards(store, names, {p.task.name: p.spec.dataset for p in plans})
        from lmscape.cli.route_cmd import routing_sections
        from lmscape.decide.report_section import recommendation_sections
        from lmscape.report.html import write_report

        with clock.phase("report writing"):
            path = write_report(store, out, tasks=names,
                                extra_sections=recommendation_sections(store, names)
                                + routing_sections(names),
                                breakdown=Breakdown.now(result.timings, clock.phases,
                                                         jobs=jobs))
        console.print(f"report written to [bold]{path}[/]")
        if result.skipped:
            err_console.print(f"{len(result.skipped)} system(s) skipped (see above)")
    finally:
        store.close()
        runs_on.close()
    _print_breakdown(Breakdown.now(result.timings, clock.phases, jobs=jobs))


def _jobs(jobs: int | None, *, suite: bool, executor: str) -> int:
    """How many systems run at once: ``--jobs``, else one per core (at most 4) for the
    default suite and 1 for a named task (its models may be large)."""
    from lmscape.errors import ConfigError

    if jobs is not None:
        if jobs > 1 and executor != "local":
            raise ConfigError(f"--jobs {jobs} runs systems in local processes; the "
                              f"{executor} executor spreads them itself",
                              hint="drop --jobs, or use --executor local")
        return jobs
    if not suite or executor != "local":
        return 1
    from lmscape.config import available_cores

    return max(1, min(4, available_cores()))


def _print_breakdown(breakdown: Breakdown) -> None:
    from lmscape.report.breakdown import breakdown_table, usage_line

    console.print(breakdown_table(breakdown, console.width))
    console.print(usage_line(breakdown), highlight=False)


def _print_boards(store, tasks: list[str], datasets: dict[str, str]) -> None:
    from lmscape.bench.results import leaderboard
    from lmscape.errors import NotFoundError
    from lmscape.report.console import leaderboard_tables

    for name in dict.fromkeys(tasks):
        try:
            board = leaderboard(store, name, datasets.get(name))
        except NotFoundError:
            err_console.print(f"[yellow]{name}[/]: no system finished, so no leaderboard")
            continue
        for table in leaderboard_tables(board, console.width):
            console.print(table)


def tasks_cmd() -> None:
    """List tasks, their data and the methods that can run them."""
    from rich.table import Table

    from lmscape.methods.registry import default_systems, list_methods
    from lmscape.report.names import table_width
    from lmscape.tasks.registry import get_task, list_tasks

    rows = []
    for name in list_tasks():
        t = get_task(name)
        definition = getattr(t, "definition", None)
        rows.append({"task": name, "version": t.version,
                     "dataset": getattr(definition, "dataset", "—"),
                     "splits": list(getattr(t, "splits", ()) or ()),
                     "metric": t.primary_metric, "methods": list_methods(t),
                     "default systems": default_systems(name)})
    # One name per line, never cut; a table where it fits, else one block per task.
    table = Table(title="tasks", title_justify="left")
    for header in rows[0] if rows else ():
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*("\n".join(v) or "—" if isinstance(v, list) else v for v in row.values()))
    if table_width(table) <= console.width:
        console.print(table)
        return
    for row in rows:
        console.print(f"[bold]{row['task']}[/] — v{row['version']}, {row['dataset']} "
                      f"({', '.join(row['splits'])}), metric {row['metric']}", highlight=False)
        console.print(f"  methods: {', '.join(row['methods'])}", highlight=False)
        console.print("  default systems:" + "".join(
            f"\n    {s}" for s in row["default systems"]) if row["default systems"]
            else "  default systems: none", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("tasks")(tasks_cmd)
