"""Client settings from the page's URL."""

from __future__ import annotations

import pytest

from frontend.page_settings import client_config_from_params, undo_window_from_params
from sse_client.config import DEFAULT_CLIENT_CONFIG


def test_sse_parameters_override_the_defaults_with_their_types():
    config = client_config_from_params({"sse_idle_timeout": "2.5", "sse_max_attempts": "3", "sse_pause_when_hidden": "yes"})
    assert config.idle_timeout == 2.5
    assert config.max_attempts == 3 and isinstance(config.max_attempts, int)
    assert config.pause_when_hidden is True
    assert config.base_delay == DEFAULT_CLIENT_CONFIG.base_delay


def test_other_parameters_are_ignored():
    assert client_config_from_params({"api": "http://127.0.0.1:9", "session": "s"}) == DEFAULT_CLIENT_CONFIG


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sse_nope": "1"}, "unknown setting sse_nope"),
        ({"sse_idle_timeout": "soon"}, "invalid value for sse_idle_timeout"),
        ({"sse_pause_when_hidden": "maybe"}, "invalid value for sse_pause_when_hidden"),
        ({"sse_max_attempts": "2.5"}, "invalid value for sse_max_attempts"),
        ({"sse_min_delay": "0"}, "min_delay"),
    ],
)
def test_bad_settings_raise_a_clear_error(params, message):
    with pytest.raises(ValueError, match=message):
        client_config_from_params(params)


def test_the_undo_window_page_setting() -> None:
    assert undo_window_from_params({}, 8.0) == 8.0
    assert undo_window_from_params({"outbox_undo_window": "1.5"}, 8.0) == 1.5
    for bad in ("0", "-1", "61", "soon", "nan", ""):
        assert undo_window_from_params({"outbox_undo_window": bad}, 8.0) == 8.0
