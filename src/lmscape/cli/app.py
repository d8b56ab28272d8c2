"""The root Typer app and the error boundary shared by every command module.

Command modules import heavy libraries inside their functions, never at module level,
so ``lmscape --help`` stays fast.
"""

from __future__ import annotations

import os

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from lmscape.errors import LmscapeError

console = Console()
err_console = Console(stderr=True)

_debug = {"on": bool(os.environ.get("LMSCAPE_DEBUG"))}


class UserError(click.ClickException):
    """An LmscapeError shown as one line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        # escape(): a message is text, not markup (pip install 'lmscape[ray]' keeps [ray])
        err_console.print(f"[bold red]error:[/] {escape(self.message)}", highlight=False,
                          soft_wrap=True)


class LmscapeGroup(TyperGroup):
    """Turns LmscapeError into one clear line unless --debug."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LmscapeError as exc:
            if _debug["on"]:
                raise
            # Typer 0.2x vendors click and would box a ClickException; print one line.
            UserError(exc.one_line()).show()
            raise typer.Exit(UserError.exit_code) from exc
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise SystemExit(130) from None


app = typer.Typer(
    cls=LmscapeGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Choose, run and prove the right language model for a job.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    if debug:
        _debug["on"] = True
