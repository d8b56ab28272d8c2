"""The CLI's error boundary: one line and exit 2 for user errors; --debug shows the raise."""

from typer.testing import CliRunner

from lmscape.cli import app as cli_app
from lmscape.cli.main import build_app
from lmscape.errors import NotFoundError


def test_user_error_is_one_line_with_exit_2():
    result = CliRunner().invoke(build_app(), ["models", "show", "gpt-4x"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: unknown model 'gpt-4x'")


def test_debug_lets_the_exception_through(monkeypatch):
    monkeypatch.setitem(cli_app._debug, "on", False)
    result = CliRunner().invoke(build_app(), ["--debug", "models", "show", "gpt-4x"])
    assert isinstance(result.exception, NotFoundError)
