"""Checks on command-line output shared by the CLI tests."""

from __future__ import annotations


def one_error_line(result) -> str:
    """A user error: exit 2 and exactly one ``error: ... (fix: ...)`` line, no traceback."""
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]
