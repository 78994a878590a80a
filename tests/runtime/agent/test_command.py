"""modelhub node's command line: one line and exit 2 for every usage problem, never a traceback."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pytest

import runtime.agent.command as command
from runtime.agent.command import add_node_arguments, config_from_arguments, node_main, parse_rate
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
        ([*BASE, "--read-timeout", "0"], "--read-timeout must be a finite number above 0 seconds, not 0.0"),
        ([*BASE, "--read-timeout", "inf"], "--read-timeout must be a finite number above 0 seconds, not inf"),
        ([*BASE, "--read-timeout", "later"], "argument --read-timeout: invalid float value"),
        ([*BASE, "--min-download-rate", "0K"], "--min-download-rate must be a finite number above 0 bytes per second"),
        ([*BASE, "--min-download-rate", "fast"], "argument --min-download-rate: 'fast' is not a rate"),
        ([*BASE, "--min-download-rate", "10GiB"], "argument --min-download-rate: '10GiB' is not a rate"),
        ([*BASE, "--rate-window", "-5"], "--rate-window must be a finite number above 0 seconds, not -5.0"),
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
    assert (config.read_timeout, config.min_download_rate, config.rate_window) == (60.0, 10 * 1024, 60.0)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("10240", 10240), ("10K", 10240), ("10KiB/s", 10240), ("10 kb", 10240), ("1.5M", 1.5 * 1024**2), ("512B/s", 512)],
)
def test_a_rate_may_have_a_unit(text, rate):
    assert parse_rate(text) == rate


def test_the_speed_limits_reach_the_config(tmp_path):
    argv = [*BASE[:4], "--cache-dir", str(tmp_path), "--read-timeout", "5", "--min-download-rate", "1M"]
    config = config_from_arguments(parse([*argv, "--rate-window", "20"]), {})
    limits = config.speed_limits
    assert (limits.read_timeout, limits.min_rate, limits.window) == (5.0, 1024**2, 20.0)


def test_a_cache_dir_that_is_not_a_cache_exits_2(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert node_main(["--server", "http://127.0.0.1:9", "--token", "t", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not empty and is not a node cache" in err


def test_help_exits_0(capsys):
    assert node_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--heartbeat-interval" in out
    assert "--min-download-rate" in out
    assert "default 10 KiB/s" in out


def test_a_clean_stop_exits_0(monkeypatch, tmp_path):
    seen: list[NodeConfig] = []

    async def fake_run_node(config: NodeConfig) -> None:
        seen.append(config)

    monkeypatch.setattr(command, "run_node", fake_run_node)
    assert node_main([*BASE[:4], "--cache-dir", str(tmp_path), "--concurrency", "3"]) == 0
    assert seen[0].concurrency == 3
