"""The galleries view's API (issue 23): thumbnails with cache headers, rename, search by name."""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np
import redis
from aiohttp.test_utils import TestClient

from services.worker.face.thumbs import THUMB_PX, thumbnail
from shared import galleries
from shared.registry import Registry
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.conftest import EventTap, wait_for

BASE = "/api/v1/galleries/staff/identities"


def enrol(registry: Registry, job_id: str, name: str, thumb: str = "") -> None:
    identity = galleries.Identity(id=job_id, name=name, job=job_id, thumb=thumb, box=[1, 2, 3, 4])
    registry.run(galleries.enroll("staff", identity, b"\0" * galleries.EMBEDDING_BYTES))


def test_a_thumbnail_is_a_small_jpeg_of_the_face_with_a_margin() -> None:
    image = np.full((800, 600, 3), 200, dtype=np.uint8)
    data = base64.b64decode(thumbnail(image, [100, 100, 300, 400]))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert max(decoded.shape[:2]) == THUMB_PX and len(data) < 8000
    assert thumbnail(image, [700, 900, 10, 10]) == ""  # outside the image


async def test_thumbnails_are_served_with_cache_headers_and_need_auth(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    # Given an identity enrolled with a thumbnail and one from before thumbnails
    thumb = thumbnail(np.full((120, 120, 3), 90, dtype=np.uint8), [10, 10, 100, 100])
    enrol(registry, "0a", "Ada", thumb)
    enrol(registry, "0b", "Bob")
    # Then its JPEG comes with an ETag and a private cache lifetime, and a repeat is a 304
    response = await api.get(f"{BASE}/0a/thumbnail", headers=VIEWER)
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert await response.read() == base64.b64decode(thumb)
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    etag = response.headers["ETag"]
    again = await api.get(f"{BASE}/0a/thumbnail", headers={**VIEWER, "If-None-Match": etag})
    assert again.status == 304
    assert (await api.get(f"{BASE}/0b/thumbnail", headers=VIEWER)).status == 404
    assert (await api.get(f"{BASE}/0z/thumbnail", headers=VIEWER)).status == 404
    assert (await api.get(f"{BASE}/0a/thumbnail")).status == 401
    # And listings and job results never carry it
    listed = await (await api.get(BASE, headers=VIEWER)).json()
    assert "thumb" not in listed["identities"][0]


async def test_rename_and_search_by_name(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, tap: EventTap
) -> None:
    # Given three people
    for job_id, name in (("0a", "Ada Lovelace"), ("0b", "Bob"), ("0c", "ada king")):
        enrol(registry, job_id, name)
    # When one is renamed
    response = await api.patch(f"{BASE}/0b", json={"name": " Grace "}, headers=ADMIN)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["name"] == "Grace"
    # Then the gallery says so, workers see a removal and an addition, and dashboards an event
    wait_for(lambda: any(e.data.get("action") == "renamed" for e in tap.of_type("gallery")), what="event")
    changes = typed_redis.zrange(raw, "fq:gallery:staff:changes", -2, -1)
    assert [c.split(":")[1] for c in changes] == ["-", "+"]
    # And a search by name finds any case, in enrolment order
    found = await (await api.get(BASE, params={"q": "ADA"}, headers=VIEWER)).json()
    assert [i["name"] for i in found["identities"]] == ["Ada Lovelace", "ada king"]
    assert found["scanned"] == 3
    grace = await (await api.get(BASE, params={"q": "grace"}, headers=VIEWER)).json()
    assert [i["id"] for i in grace["identities"]] == ["0b"]
    # And bad renames are refused
    assert (await api.patch(f"{BASE}/0z", json={"name": "x"}, headers=ADMIN)).status == 404
    assert (await api.patch(f"{BASE}/0a", json={"name": "  "}, headers=ADMIN)).status == 422
    assert (await api.patch(f"{BASE}/0a", json={"name": "x"}, headers=VIEWER)).status == 403
