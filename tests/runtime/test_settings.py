"""``runtime/settings.py``: environment values as the README and docs/settings.md describe them."""

from __future__ import annotations

import pytest

from runtime.cli import _variable
from runtime.settings import Settings, hf_hub_offline_warning

TRUE = ["1", "ON", "on", "On", "YES", "yes", "TRUE", "true", "True"]
FALSE = ["0", "OFF", "off", "NO", "no", "FALSE", "false", "False"]
UNUSUAL = ["maybe", "2", "y", "t", "enabled", " 1", "1 "]  # false for huggingface_hub too: it compares exactly


@pytest.fixture
def environment(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "MODELHUB_HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value", TRUE)
def test_hf_hub_offline_is_true_for_huggingface_hubs_true_values(environment, value):
    environment.setenv("HF_HUB_OFFLINE", value)
    assert Settings().hf_hub_offline is True
    assert hf_hub_offline_warning({"HF_HUB_OFFLINE": value}) is None


@pytest.mark.parametrize("value", FALSE)
def test_hf_hub_offline_is_false_for_the_usual_false_values(environment, value):
    environment.setenv("HF_HUB_OFFLINE", value)
    assert Settings().hf_hub_offline is False
    assert hf_hub_offline_warning({"HF_HUB_OFFLINE": value}) is None


@pytest.mark.parametrize("value", UNUSUAL)
def test_any_other_hf_hub_offline_value_is_online_with_a_warning_naming_the_variable(environment, value):
    environment.setenv("HF_HUB_OFFLINE", value)
    assert Settings().hf_hub_offline is False  # no "Input should be a valid boolean"
    warning = hf_hub_offline_warning({"HF_HUB_OFFLINE": value})
    assert warning is not None
    assert warning.startswith(f"modelhub: warning: HF_HUB_OFFLINE={value!r} ")
    assert "\n" not in warning


def test_empty_hf_hub_offline_is_unset(environment):
    environment.setenv("HF_HUB_OFFLINE", "")
    assert Settings().hf_hub_offline is False
    assert hf_hub_offline_warning({"HF_HUB_OFFLINE": ""}) is None


def test_the_prefixed_name_works_too_and_hf_hub_offline_wins_when_both_are_set(environment):
    environment.setenv("MODELHUB_HF_HUB_OFFLINE", "yes")
    assert Settings().hf_hub_offline is True
    environment.setenv("HF_HUB_OFFLINE", "")  # empty: unset, so the prefixed one is read
    assert Settings().hf_hub_offline is True
    environment.setenv("HF_HUB_OFFLINE", "0")
    assert Settings().hf_hub_offline is False
    warning = hf_hub_offline_warning({"HF_HUB_OFFLINE": "", "MODELHUB_HF_HUB_OFFLINE": "maybe"})
    assert warning is not None
    assert warning.startswith("modelhub: warning: MODELHUB_HF_HUB_OFFLINE='maybe' ")


def test_python_callers_still_pass_booleans():
    assert Settings(hf_hub_offline=True).hf_hub_offline is True
    assert Settings(hf_hub_offline=False).hf_hub_offline is False


def test_a_settings_error_names_the_variable_as_the_user_spells_it():
    assert _variable(("HF_HUB_OFFLINE",)) == "HF_HUB_OFFLINE"
    assert _variable(("hf_hub_offline",)) == "HF_HUB_OFFLINE"
    assert _variable(("node_offline_after",)) == "MODELHUB_NODE_OFFLINE_AFTER"
