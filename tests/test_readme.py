"""Every command shown in the README's ```console blocks runs and exits 0.

Lines starting with ``$ lmscape`` are run with this environment's ``lmscape``; ``make``
lines are the set-up commands themselves (they run this suite) and are skipped. A
command that serves or chats forever is run with its own driver below.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.net import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    text = README.read_text()
    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ lmscape"):
                commands.append(line[2:].strip())
    return commands


def _run_serve(argv: list[str], env: dict[str, str]) -> None:
    port = free_port()  # the README's port may be taken here
    if "--port" in argv:
        argv[argv.index("--port") + 1] = str(port)
    else:
        argv += ["--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    return
            except OSError:
                time.sleep(0.5)
        pytest.fail("lmscape serve did not answer /health within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_readme_lists_the_two_setup_commands_first():
    text = README.read_text()
    first_block = re.search(r"```(?:console|sh|bash)?\n(.*?)```", text, flags=re.DOTALL).group(1)
    assert "make run" in first_block and "make test" in first_block


@pytest.fixture(scope="module")
def readme_workdir(tmp_path_factory):
    """One home and working folder for all README commands, run in README order
    (``lmscape report`` reads what ``lmscape bench`` stored), with examples/ beside it."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", work / "examples")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, readme_workdir):
    tmp_path = readme_workdir
    env = dict(os.environ)
    env["LMSCAPE_HOME"] = str(readme_workdir / "home")
    env.setdefault("HF_HUB_OFFLINE", "1")
    argv = shlex.split(command)
    argv[0] = str(BIN / "lmscape") if (BIN / "lmscape").exists() else shutil.which("lmscape")
    if command.startswith("lmscape serve"):
        _run_serve(argv, env)
        return
    stdin = "Hello!\n/exit\n" if command.startswith("lmscape chat") else ""
    proc = subprocess.run(
        argv, check=False, input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
