"""The README's setup commands are the ones CI runs."""

from __future__ import annotations

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = README.split("## Setup", 1)[1].split("\n## ", 1)[0]
COMMANDS = re.findall(r"```sh\n(.+?)\n```", SETUP)


def test_setup_has_exactly_two_command_lines():
    assert len(COMMANDS) == 2
    assert all("\n" not in command for command in COMMANDS)
    assert COMMANDS[0].endswith("just build")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert COMMANDS[1] in ci
