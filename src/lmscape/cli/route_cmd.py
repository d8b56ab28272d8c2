"""`lmscape route calibrate|list|show`: routing policies (cascades and routers)."""

from __future__ import annotations

import typer

from lmscape.cli.app import console, err_console


class _Bars:
    """One progress bar per member while its calibration items run."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bars = Progress(TextColumn("{task.description:<44}"), BarColumn(),
                             MofNCompleteColumn(), console=err_console, transient=True)
        self.ids: dict[str, int] = {}

    def __enter__(self):
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, system: str, total: int, done: int) -> None:
        self.ids[system] = self.bars.add_task(f"calibrating {system}"[:44], total=total,
                                              completed=done)

    def advance(self, system: str, n: int) -> None:
        self.bars.advance(self.ids[system], n)

    def finish(self, system: str) -> None:
        task_id = self.ids.get(system)
        if task_id is not None:
            self.bars.update(task_id, completed=self.bars.tasks[task_id].total)


def calibrate(
    task: str = typer.Option(..., "--task", "-t", help="Task the members run."),
    systems: str = typer.Option(..., "--systems", "-s",
                                help="Members, cheapest first: A,B[,C]."),
    kind: str = typer.Option("cascade", "--kind", help="cascade or router."),
    target_quality: float = typer.Option(None, "--target-quality",
                                         help="Quality relative to the last member to reach "
                                              "(default 0.99)."),
    max_share_large: float = typer.Option(None, "--max-share-large",
                                          help="At most this share of items to the last member."),
    name: str = typer.Option(None, "--name", help="Policy name (default: the task's name)."),
    split: str = typer.Option(None, "--split",
                              help="Labelled calibration split (default: the train split)."),
    data: str = typer.Option(None, "--data", help="Your own labelled JSONL/CSV file instead."),
    limit: int = typer.Option(300, "--limit", "-n", help="Calibration items (seeded sample)."),
    seed: int = typer.Option(7, "--seed", help="Sampling seed."),
) -> None:
    """Pick a cascade's or router's thresholds on labelled calibration items and save the
    policy as $LMSCAPE_HOME/policies/NAME.yaml (serve it as auto:NAME)."""
    from lmscape.errors import ConfigError
    from lmscape.methods.registry import split_systems
    from lmscape.report.route_curve import curve_table
    from lmscape.route.calibrate import calibrate_policy, check_goal
    from lmscape.route.policy import check_name, policy_path
    from lmscape.tasks.registry import get_task

    if kind not in ("cascade", "router"):
        raise ConfigError(f"unknown --kind {kind!r}", hint="use --kind cascade or router")
    members = split_systems(systems)
    if len(members) < 2:
        raise ConfigError(f"a {kind} needs at least two members, got {len(members)}",
                          hint="--systems SMALL,LARGE (cheapest first)")
    goal = check_goal(target_quality, max_share_large)
    policy_name = check_name(name or task)
    the_task = get_task(task)
    with _Bars() as bars:
        policy, _result = calibrate_policy(name=policy_name, task=the_task, kind=kind,
                                          members=members, goal=goal, split=split,
                                          limit=limit, seed=seed, data_file=data,
                                          progress=bars)
    cal = policy.calibration
    assert cal is not None
    console.print(curve_table(cal.model_dump(), members, width=console.width))
    console.print(f"[bold]{cal.explanation}[/]", highlight=False)
    chosen = cal.chosen
    console.print(f"chosen threshold {chosen['threshold']:.3f}: quality "
                  f"{chosen['quality_rel']:.1%} of {members[-1]} at {chosen['cost_rel']:.1%} "
                  f"of its cost ({cal.cost_unit}), on {cal.n} {cal.split} items",
                  highlight=False)
    console.print(f"policy written to [bold]{policy_path(policy.name)}[/] — use it as "
                  f"[bold]auto:{policy.name}[/]", highlight=False)


def list_() -> None:
    """List saved routing policies."""
    from rich.table import Table

    from lmscape.route.policy import list_policies, load_policy

    table = Table("name", "kind", "task", "members", "thresholds", "calibrated")
    for name in list_policies():
        p = load_policy(name)
        table.add_row(f"auto:{p.name}", p.kind, p.task, " → ".join(p.members),
                      ", ".join(f"{t:.3f}" for t in p.thresholds),
                      p.calibration.date[:10] if p.calibration else "—")
    console.print(table)


def show(name: str = typer.Argument(..., help="Policy name (or auto:NAME).")) -> None:
    """Show a policy: members, thresholds, its cost–quality curve and what it means."""
    from lmscape.report.route_curve import curve_table
    from lmscape.route.policy import load_policy

    p = load_policy(name.removeprefix("auto:"))
    console.print(f"[bold]auto:{p.name}[/] — {p.kind} on {p.task}: " + " → ".join(p.members),
                  highlight=False)
    if p.calibration:
        console.print(curve_table(p.calibration.model_dump(), p.members, width=console.width))
        console.print(p.calibration.explanation, highlight=False)


def routing_sections(tasks: list[str] | None) -> list[dict]:
    """The report's routing section for the policies of ``tasks`` (all when None);
    an unreadable policy file is left out of the report, not fatal to it."""
    from lmscape.errors import LmscapeError
    from lmscape.report.route_curve import routing_section
    from lmscape.route.policy import list_policies, load_policy

    policies = []
    for name in list_policies():
        try:
            p = load_policy(name)
        except LmscapeError as exc:
            err_console.print(f"[yellow]policy {name} left out of the report:[/] "
                              f"{exc.one_line()}", highlight=False)
            continue
        if tasks is None or p.task in tasks:
            policies.append(p.model_dump(mode="json"))
    section = routing_section(policies)
    return [section] if section else []


def register(app: typer.Typer) -> None:
    route_app = typer.Typer(help="Routing policies: calibrate cascades and routers.",
                            no_args_is_help=True, add_completion=False)
    route_app.command("calibrate")(calibrate)
    route_app.command("list")(list_)
    route_app.command("show")(show)
    app.add_typer(route_app, name="route")
