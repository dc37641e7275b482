"""The ``facequeue`` console script and ``facequeue up`` (what ``make run`` runs)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import redis

from devstack.localredis import free_port
from shared.config import Settings
from shared.registry import Registry
from shared.states import JobState
from tests.processes import ROOT, spawn, wait_for

FACEQUEUE = str(Path(sys.executable).parent / "facequeue")


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACEQUEUE, *args],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_submit_prints_the_new_job_id(settings: Settings, registry: Registry) -> None:
    result = run_cli(
        settings, "submit", "sleep", "--args", '{"seconds": 1}', "--priority", "2", "--delay-ms", "500"
    )
    assert result.returncode == 0, result.stderr
    job = registry.get(result.stdout.strip())
    assert (job.actor, job.args, job.priority, job.state) == ("sleep", [1], 2, JobState.DELAYED)


def test_submit_with_bad_input_fails_clearly_and_changes_nothing(
    settings: Settings, raw: redis.Redis
) -> None:
    for args, message in [
        (["nope"], "unknown_actor"),
        (["sleep", "--args", "[]"], "invalid_arguments"),
        (["noop", "--priority", "500"], "invalid_arguments"),
        (["noop", "--args", "{not json"], "not JSON"),
    ]:
        result = run_cli(settings, "submit", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    assert raw.dbsize() == 0


def test_login_link_prints_a_one_time_link_the_api_accepts_once(settings: Settings, tmp_path: Path) -> None:
    from tests.processes import launch

    port = free_port()
    api = launch("api", dataclasses.replace(settings, api_port=port), port, tmp_path / "api.log")
    try:
        # When an operator asks for a link
        result = run_cli(settings, "login-link", "--base-url", f"http://127.0.0.1:{port}/")
        assert result.returncode == 0, result.stderr
        link = result.stdout.strip()
        # Then it is the page's URL with the code in its fragment, and no token in it
        assert link.startswith(f"http://127.0.0.1:{port}/#code=")
        assert settings.admin_token not in link
        code = link.split("#code=", 1)[1]
        # And the code opens one admin session, once
        assert _post_code(port, code) == (200, "admin")
        assert _post_code(port, code) == (401, None)
    finally:
        api.stop()
    # Unsafe or missing credentials print no link
    weak = run_cli(dataclasses.replace(settings, secret="short"), "login-link")
    assert weak.returncode == 2 and "FQ_SECRET" in weak.stderr and not weak.stdout
    viewer_only = run_cli(dataclasses.replace(settings, admin_token=""), "login-link")
    assert viewer_only.returncode == 2 and "FQ_ADMIN_TOKEN" in viewer_only.stderr


def test_up_refuses_a_weak_secret_it_was_given_instead_of_replacing_it(settings: Settings) -> None:
    result = run_cli(dataclasses.replace(settings, secret="weak"), "up", "--no-demo")
    assert result.returncode == 2 and "FQ_SECRET: must be at least 32 bytes" in result.stderr
    assert "facequeue is up" not in result.stdout


def _post_code(port: int, code: str) -> tuple[int, str | None]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/session/code",
        data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            assert "fq_session=" in response.headers["Set-Cookie"]
            return int(response.status), json.loads(response.read())["role"]
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code, None


def test_up_starts_its_own_redis_and_every_service_seeds_the_demo_and_stops_cleanly(
    tmp_path: Path, photos: dict[str, bytes]
) -> None:
    # Given no FQ_REDIS_URL, When `facequeue up` runs (what `make run` does)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FQ_")}
    ports = {
        "FQ_API_PORT": free_port(),
        "FQ_STREAM_PORT": free_port(),
        "FQ_MONITOR_PORT": free_port(),
        "FQ_WORKER_METRICS_PORT": free_port(),
    }
    env.update({k: str(v) for k, v in ports.items()})
    log = tmp_path / "up.log"
    proc = spawn(
        [FACEQUEUE, "up", "--photos-cache", str(ROOT / ".cache" / "sample-photos")], log, env, tmp_path
    )
    try:
        # Then it prints the dashboard URL, and the dashboard and every health endpoint answer
        wait_for(lambda: "dashboard  http://" in log.read_text(), timeout=30, what="URLs")
        for port in (ports["FQ_API_PORT"], ports["FQ_STREAM_PORT"], ports["FQ_MONITOR_PORT"]):

            def ready(p: int = port) -> bool:
                return _get(f"http://127.0.0.1:{p}/readyz") == 200

            wait_for(ready, timeout=30, what=f"port {port}")
        assert _get(f"http://127.0.0.1:{ports['FQ_API_PORT']}/") == 200
        # and the page's EventSource, cross-origin on the stream port, is let in
        _expect_dashboard_origin_allowed(ports["FQ_API_PORT"], ports["FQ_STREAM_PORT"])
        wait_for(lambda: "worker registered" in log.read_text(), timeout=30, what="workers")
        assert (tmp_path / ".run" / "redis").is_dir()
        # And the demo gallery is enrolled through the API and searched
        wait_for(lambda: "demo seeded" in log.read_text(), timeout=120, what="demo")
        text = log.read_text()
        token = text.split("API token  ", 1)[1].split()[0]
        assert len(token) >= 32  # what the api demands at start
        # The login link is one-time and carries a code, never the token
        link = text.split("log in     ", 1)[1].split()[0]
        assert link.startswith(f"http://127.0.0.1:{ports['FQ_API_PORT']}/#code=") and token not in link
        assert _post_code(ports["FQ_API_PORT"], link.split("#code=", 1)[1]) == (200, "admin")
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['FQ_API_PORT']}/api/v1/galleries",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["galleries"] == [
                {"name": "demo", "identities": 3, "version": 3}
            ]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, log.read_text()
    # and Ctrl-C left nothing behind
    text = log.read_text()
    assert "Traceback" not in text, text
    assert ROOT.exists()


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def _expect_dashboard_origin_allowed(api_port: int, stream_port: int) -> None:
    origin = f"http://127.0.0.1:{api_port}"
    with urllib.request.urlopen(f"{origin}/config.json", timeout=2) as response:
        config = json.loads(response.read())
    # (it also lists the event types and topics: tests/api/test_dashboard.py checks those)
    assert (config["stream_url"], config["dashboard_origin"]) == (f"http://127.0.0.1:{stream_port}", origin)
    assert config["sso"] is False
    request = urllib.request.Request(f"{config['stream_url']}/stream", headers={"Origin": origin})
    try:
        urllib.request.urlopen(request, timeout=2)
    except urllib.error.HTTPError as refused:  # no session: 401, but readable by the page
        assert refused.code == 401
        assert refused.headers["Access-Control-Allow-Origin"] == origin
        assert refused.headers["Access-Control-Allow-Credentials"] == "true"
    else:
        raise AssertionError("the gateway streamed without a session")


def test_up_without_devstack_stops_with_the_commands_to_run_instead(settings: Settings) -> None:
    # Given an installation without devstack/ (the image ships shared/ and services/ only)
    code = "import sys; sys.modules['devstack'] = None; from services.cli import main; main(['up'])"
    # When `facequeue up` runs
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=30,
    )
    # Then it exits 2 with what to run instead, not a traceback
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "facequeue api|stream|monitor|worker" in result.stderr and "make run" in result.stderr
