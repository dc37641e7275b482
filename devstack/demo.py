"""``make run``'s demo: a gallery of three people and a few searches, through the real API.

A newcomer opens the dashboard and sees enrol jobs and face searches run at once.
It goes through HTTP like any client (so it exercises validation and storage),
and does nothing when the demo gallery already exists (a persistent local Redis).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from shared.logging import get_logger

log = get_logger(__name__)

GALLERY = "demo"
#: Who is enrolled, from which photo.
PEOPLE = (("Barack Obama", "obama.jpg"), ("Joe Biden", "biden.jpg"), ("Eileen Collins", "astronaut.png"))
#: Searches submitted once the people are enrolled (the gallery exists only from then on).
SEARCHES = ("obama2.jpg", "pair.jpg", "obama3.jpg", "camera.png", "coffee.png")


class _Client:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base_url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        return False


def seed(base_url: str, token: str, cache: Path) -> None:
    """Enrol the demo people and submit the demo searches; logs and returns on any failure."""
    client = _Client(base_url, token)
    if not client.wait_ready():
        log.warning("demo skipped: the API did not become ready")
        return
    try:
        galleries = client.call("GET", "/api/v1/galleries")["galleries"]
        if any(g["name"] == GALLERY for g in galleries):
            log.info("demo gallery exists; not seeding again", gallery=GALLERY)
            return
        from devstack.sample_photos import load_all

        photos = load_all(cache)
        for name, photo in PEOPLE:
            body = {"name": name, "image": base64.b64encode(photos[photo]).decode()}
            client.call("POST", f"/api/v1/galleries/{GALLERY}/identities", body)
        if not _enrolled(client, len(PEOPLE)):
            log.warning("demo searches skipped: enrolments did not finish (is a worker running?)")
            return
        for photo in SEARCHES:
            body = {"image": base64.b64encode(photos[photo]).decode(), "gallery": GALLERY}
            client.call("POST", "/api/v1/jobs", body)
        log.info("demo seeded", gallery=GALLERY, enrolled=len(PEOPLE), searches=len(SEARCHES))
    except urllib.error.HTTPError as exc:
        log.warning("demo seeding stopped", status=exc.code, error=exc.read().decode(errors="replace"))
    except Exception as exc:  # offline, or dev dependencies missing: the stack runs without the demo
        log.warning("demo seeding skipped", error=repr(exc))


def _enrolled(client: _Client, count: int, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        galleries = client.call("GET", "/api/v1/galleries")["galleries"]
        if any(g["name"] == GALLERY and g["identities"] >= count for g in galleries):
            return True
        time.sleep(1.0)
    return False
