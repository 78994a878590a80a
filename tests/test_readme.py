"""The README's setup commands are the ones CI runs."""

from __future__ import annotations

import re

from runtime.settings import Settings
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


DOCS = ROOT / "docs"
DOC_PAGES = ("commands.md", "settings.md", "http-api.md", "websocket.md", "lifecycle.md", "replicas.md", "catalog.md")


def _variable_of(name: str) -> str:
    """The environment variable of a ``Settings`` field, as the user spells it."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"MODELHUB_{name.upper()}"


def test_docs_settings_lists_every_field_of_settings_in_its_tables():
    documented = set(
        re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (DOCS / "settings.md").read_text(encoding="utf-8"), re.M)
    )
    missing = [_variable_of(name) for name in Settings.model_fields if _variable_of(name) not in documented]
    assert not missing, f"docs/settings.md has no table row for {missing}"


def test_readme_settings_table_names_only_real_variables():
    real = {_variable_of(name) for name in Settings.model_fields}
    table = README.split("### Settings", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.M))
    assert listed <= real, listed - real


def test_the_readme_links_each_docs_page_and_every_link_stays_in_the_repository():
    for page in DOC_PAGES:
        assert f"](docs/{page})" in README, page
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "shared/" not in text, path
        assert "CONTRACTS" not in text, path
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            assert (path.parent / target).resolve().is_relative_to(ROOT.resolve()), (path, target)
            assert (path.parent / target).exists(), (path, target)
