"""Container health check for every facequeue process, with nothing but the standard library.

``healthcheck.py``            exit 0 when the process of this container answers ``/healthz``
                              (api, stream or monitor; a worker group's metrics port answers
                              any path), probing the ports its ``FQ_*`` variables name.
``healthcheck.py URL...``     exit 0 when one of the URLs answers 200 (e.g. ``/readyz``).
``healthcheck.py --redis``    exit 0 when the process's Redis answers PING (worker readiness):
                              ``FQ_REDIS_URL``, or the primary ``FQ_REDIS_SENTINELS`` name.
"""

from __future__ import annotations

import os
import sys
import urllib.request

#: (variable, default port) of every port a facequeue process listens on.
PORTS = (
    ("FQ_API_PORT", 8080),
    ("FQ_STREAM_PORT", 8081),
    ("FQ_MONITOR_PORT", 8082),
    ("FQ_WORKER_METRICS_PORT", 9191),
)
#: Seconds one probe may take.
TIMEOUT_S = 2.0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def redis_answers() -> bool:
    """The process's Redis (the URL, or the primary its Sentinels name) answers PING."""
    import dataclasses

    import redis  # installed with facequeue

    from shared.config import Settings
    from shared.redis_clients import sync_client

    settings = dataclasses.replace(
        Settings.from_env(),
        redis_connect_timeout_s=TIMEOUT_S,
        redis_socket_timeout_s=TIMEOUT_S,
        redis_retries=0,
    )
    client = sync_client(settings)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def main(argv: list[str]) -> int:
    if argv == ["--redis"]:
        return 0 if redis_answers() else 1
    urls = argv or [f"http://127.0.0.1:{os.environ.get(var, port)}/healthz" for var, port in PORTS]
    return 0 if any(answers(url) for url in urls) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
