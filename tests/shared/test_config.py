"""Settings: parsed from FQ_* variables, bad values named, unknown ones warned about."""

from __future__ import annotations

import pytest
import structlog

from shared.config import Settings, SettingsError


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({}, "redis_url", "redis://127.0.0.1:6379/0"),
        ({"FQ_REDIS_URL": "redis://h:1/2"}, "redis_url", "redis://h:1/2"),
        ({"FQ_API_PORT": "9000"}, "api_port", 9000),
        ({"FQ_HEARTBEAT_INTERVAL_S": "0.5"}, "heartbeat_interval_s", 0.5),
        ({"FQ_WORKER_QUEUES": "a, b,,c"}, "worker_queues", ("a", "b", "c")),
        ({}, "worker_dead_s", 15.0),
    ],
)
def test_settings_read_fq_variables(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), field) == expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"FQ_API_PORT": "eighty"}, "FQ_API_PORT"),
        ({"FQ_API_PORT": "70000"}, "FQ_API_PORT"),
        ({"FQ_WORKER_THREADS": "0"}, "FQ_WORKER_THREADS"),
        ({"FQ_HEARTBEAT_INTERVAL_S": "20"}, "FQ_WORKER_DEAD_S"),
        ({"FQ_LOG_FORMAT": "xml"}, "FQ_LOG_FORMAT"),
        ({"FQ_HTTP_KEEPALIVE_S": "0"}, "FQ_HTTP_KEEPALIVE_S"),
        ({"FQ_HTTP_BODY_TIMEOUT_S": "nan"}, "FQ_HTTP_BODY_TIMEOUT_S"),
        ({"FQ_STREAM_MAX_CONNECTIONS_PER_ADDRESS": "-1"}, "FQ_STREAM_MAX_CONNECTIONS_PER_ADDRESS"),
        ({"FQ_STREAM_REPLAY_MAX_EVENTS": "0"}, "FQ_STREAM_REPLAY_MAX_EVENTS"),
        ({"FQ_DECODE_CONCURRENCY": "0"}, "FQ_DECODE_CONCURRENCY"),
        ({"FQ_MAX_JSON_DEPTH": "0"}, "FQ_MAX_JSON_DEPTH"),
    ],
)
def test_bad_value_fails_naming_its_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)


def test_unknown_fq_variable_is_warned_about() -> None:
    with structlog.testing.capture_logs() as logs:
        Settings.from_env({"FQ_REDIS_URLL": "x", "OTHER": "y"})
    assert logs == [
        {"event": "unknown settings ignored", "variables": ["FQ_REDIS_URLL"], "log_level": "warning"}
    ]


def test_to_env_round_trips() -> None:
    settings = Settings(worker_queues=("a", "b"), heartbeat_interval_s=1.5, api_port=1234)
    assert Settings.from_env(settings.to_env()) == settings
