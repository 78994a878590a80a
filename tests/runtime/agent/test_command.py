"""modelhub node's command line: one line and exit 2 for every usage problem, never a traceback."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pytest

import runtime.agent.command as command
from runtime.agent.command import add_node_arguments, config_from_arguments, node_main
from runtime.agent.errors import ConfigError

if TYPE_CHECKING:
    from runtime.agent.config import NodeConfig

BASE = ["--server", "http://hub:8000", "--token", "t", "--cache-dir", "cache"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_node_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --server, --cache-dir"),
        (["--server", "hub:8000", "--token", "t", "--cache-dir", "c"], "--server must be an http:// or https:// URL"),
        ([*BASE, "--heartbeat-interval", "0"], "--heartbeat-interval must be above 0"),
        ([*BASE, "--heartbeat-interval", "soon"], "argument --heartbeat-interval: invalid float value"),
        ([*BASE, "--concurrency", "0"], "--concurrency must be at least 1"),
        ([*BASE, "--runtime-id", "no spaces"], "--runtime-id 'no spaces'"),
    ],
)
def test_usage_problems_print_one_line_and_exit_2(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("MODELHUB_NODE_TOKEN", raising=False)
    assert node_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("modelhub node: ")
    assert message in err


def test_the_token_may_come_from_the_environment(monkeypatch, tmp_path):
    arguments = parse(["--server", "http://hub", "--cache-dir", str(tmp_path)])
    config = config_from_arguments(arguments, {"MODELHUB_NODE_TOKEN": "from-env", "HF_TOKEN": "hf_x"})
    assert (config.token, config.hf_token) == ("from-env", "hf_x")
    assert "from-env" not in repr(config)
    assert "hf_x" not in repr(config)
    with pytest.raises(ConfigError, match="--token or MODELHUB_NODE_TOKEN"):
        config_from_arguments(arguments, {})


def test_defaults(tmp_path):
    config = config_from_arguments(parse([*BASE[:4], "--cache-dir", str(tmp_path)]), {})
    assert (config.heartbeat_interval, config.concurrency, config.runtime_id, config.hf_token) == (2.0, 2, None, None)
    assert config.machine_name


def test_a_cache_dir_that_is_not_a_cache_exits_2(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert node_main(["--server", "http://127.0.0.1:9", "--token", "t", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not empty and is not a node cache" in err


def test_help_exits_0(capsys):
    assert node_main(["--help"]) == 0
    assert "--heartbeat-interval" in capsys.readouterr().out


def test_a_clean_stop_exits_0(monkeypatch, tmp_path):
    seen: list[NodeConfig] = []

    async def fake_run_node(config: NodeConfig) -> None:
        seen.append(config)

    monkeypatch.setattr(command, "run_node", fake_run_node)
    assert node_main([*BASE[:4], "--cache-dir", str(tmp_path), "--concurrency", "3"]) == 0
    assert seen[0].concurrency == 3
