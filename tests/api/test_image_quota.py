"""Images take at most FQ_IMAGE_QUOTA_BYTES of Redis: past it an upload is a 503 that changes nothing."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import redis

from services.api.main import build_app
from shared import keys
from shared.config import Settings
from tests.api.conftest import ADMIN
from tests.processes import wait_for


async def test_uploads_past_the_image_quota_wait_for_older_images_to_expire(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis, photos: dict[str, bytes]
) -> None:
    small, other = photos["pair.jpg"], photos["camera.png"]  # 70,953 and 139,512 bytes
    own = dataclasses.replace(settings, image_quota_bytes=len(small) + 100_000, image_ttl_s=2)
    api = await aiohttp_client(build_app(own))

    async def search(image: bytes) -> Any:
        body = {"image": base64.b64encode(image).decode()}
        return await api.post("/api/v1/jobs", json=body, headers=ADMIN)

    # Given one image stored, within the quota (storing it again costs nothing more)
    assert (await search(small)).status == 201
    assert (await search(small)).status == 201
    assert int(raw.get("fq:images:bytes") or 0) == len(small)
    jobs = raw.zcard("fq:jobs")
    # When an image that would pass the quota is uploaded
    refused = await search(other)
    # Then it is refused with a 503 that says when to retry, and no job or image was made
    assert refused.status == 503 and refused.headers["Retry-After"]
    assert (await refused.json())["error"]["code"] == "image_store_full"
    assert raw.zcard("fq:jobs") == jobs and int(raw.get("fq:images:bytes") or 0) == len(small)
    # and once the older image expired, it is accepted
    stored = keys.image_key(hashlib.sha256(small).hexdigest())
    assert raw.exists(stored)
    wait_for(lambda: not raw.exists(stored), timeout=10, what="the image's expiry")
    assert (await search(other)).status == 201
    assert int(raw.get("fq:images:bytes") or 0) == len(other)
