"""Face search and galleries end to end: real photos, real models, a real worker, real HTTP."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared import images, keys
from shared.config import Settings
from shared.face_jobs import DEFAULT_THRESHOLD
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.api.conftest import ADMIN, VIEWER
from tests.conftest import EventTap
from tests.helpers import snapshot
from tests.processes import wait_for

FACES = ("face_search",)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def form(image: bytes, filename: str = "photo.jpg", **fields: Any) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, str(value))
    data.add_field("image", io.BytesIO(image), filename=filename, content_type="application/octet-stream")
    return data


async def post_json(api: TestClient[Any, Any], url: str, body: dict[str, Any]) -> Any:
    """POST a JSON body as a stream (aiohttp warns about large in-memory bodies)."""
    stream = io.BytesIO(json.dumps(body).encode())
    return await api.post(url, data=stream, headers={**ADMIN, "Content-Type": "application/json"})


async def enroll(api: TestClient[Any, Any], gallery: str, name: str, image: bytes) -> dict[str, Any]:
    response = await post_json(
        api, f"/api/v1/galleries/{gallery}/identities", {"name": name, "image": b64(image)}
    )
    assert response.status == 201, await response.text()
    job: dict[str, Any] = await response.json()
    return job


async def search(api: TestClient[Any, Any], image: bytes, **options: Any) -> dict[str, Any]:
    response = await post_json(api, "/api/v1/jobs", {"image": b64(image), **options})
    assert response.status == 201, await response.text()
    job: dict[str, Any] = await response.json()
    return job


def finished(registry: Registry, job_id: str, state: JobState = JobState.COMPLETED) -> Any:
    def done() -> Any:
        job = registry.get(job_id)
        return job if job.state in (JobState.COMPLETED, JobState.FAILED) else None

    job = wait_for(done, timeout=60, what=f"job {job_id} to finish")
    assert job.state is state, f"{job.state}: {job.error}"
    return job


def names(result: dict[str, Any]) -> list[list[str]]:
    return [[m["name"] for m in face["matches"]] for face in result["faces"]]


async def test_enrol_then_find_the_same_person_in_other_photos(
    api: TestClient[Any, Any],
    registry: Registry,
    start_worker: Callable[..., Any],
    photos: dict[str, bytes],
    tap: EventTap,
) -> None:
    start_worker(worker_queues=FACES)
    # Enrol by multipart upload and by JSON: tracked jobs whose ids become the identities' ids
    response = await api.post(
        "/api/v1/galleries/demo/identities",
        data=form(photos["obama.jpg"], name="Barack Obama"),
        headers=ADMIN,
    )
    assert response.status == 201
    obama_job = await response.json()
    assert (obama_job["actor"], obama_job["queue"], obama_job["state"]) == (
        "enroll",
        "face_search",
        "waiting",
    )
    biden_job = await enroll(api, "demo", "Joe Biden", photos["biden.jpg"])
    obama = finished(registry, obama_job["id"]).result["identity"]
    finished(registry, biden_job["id"])
    assert obama["id"] == obama_job["id"] and obama["name"] == "Barack Obama"
    assert obama["image"] == images.sha256_of(photos["obama.jpg"])

    listing = await (await api.get("/api/v1/galleries", headers=VIEWER)).json()
    assert listing == {"galleries": [{"name": "demo", "identities": 2, "version": 2}]}
    first = await (await api.get("/api/v1/galleries/demo/identities?limit=1", headers=VIEWER)).json()
    assert [i["name"] for i in first["identities"]] == ["Barack Obama"] and first["next_cursor"]
    second = await (
        await api.get(
            f"/api/v1/galleries/demo/identities?limit=1&cursor={first['next_cursor']}", headers=VIEWER
        )
    ).json()
    assert [i["name"] for i in second["identities"]] == ["Joe Biden"] and second["next_cursor"] is None

    # A different photo of an enrolled person: top-1, above the threshold
    job = await search(api, photos["obama2.jpg"], gallery="demo", top_k=3)
    assert job["actor"] == "face_search" and job["args"][0]["image"] == images.sha256_of(photos["obama2.jpg"])
    result = finished(registry, job["id"]).result
    assert len(result["faces"]) == 1 and names(result) == [["Barack Obama"]]
    best = result["faces"][0]["matches"][0]
    assert best["identity"] == obama["id"] and best["similarity"] > DEFAULT_THRESHOLD
    assert (result["width"], result["height"]) == (626, 1200) and result["gallery_version"] == 2
    face = result["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and face["score"] > 0.8
    stages = [e.data["stage"] for e in tap.of_type("progress") if e.data["job"] == job["id"]]
    assert stages == ["decoded", "detected", "embedded", "searched"]

    # Someone not enrolled matches nobody; two people in one image are told apart; no face, no faces
    assert names(
        finished(registry, (await search(api, photos["astronaut.png"], gallery="demo"))["id"]).result
    ) == [[]]
    pair = finished(registry, (await search(api, photos["pair.jpg"], gallery="demo"))["id"]).result
    assert sorted(n for ns in names(pair) for n in ns) == ["Barack Obama", "Joe Biden"]
    cat = finished(registry, (await search(api, photos["chelsea.png"], gallery="demo"))["id"]).result
    assert cat["faces"] == []
    # Without a gallery: detection and embedding only
    plain = finished(registry, (await search(api, photos["obama3.jpg"]))["id"]).result
    assert len(plain["faces"]) == 1 and plain["faces"][0]["matches"] == [] and plain["gallery"] is None

    # The stored image is served back for the dashboard
    image = await api.get(f"/api/v1/images/{images.sha256_of(photos['obama2.jpg'])}", headers=VIEWER)
    assert image.status == 200 and image.content_type == "image/jpeg"
    assert await image.read() == photos["obama2.jpg"]
    assert (await api.get(f"/api/v1/images/{'0' * 64}", headers=VIEWER)).status == 404


async def test_a_running_workers_index_follows_enrolments_and_deletions(
    api: TestClient[Any, Any], registry: Registry, start_worker: Callable[..., Any], photos: dict[str, bytes]
) -> None:
    start_worker(worker_queues=FACES)
    finished(registry, (await enroll(api, "g1", "Joe Biden", photos["biden.jpg"]))["id"])
    query = photos["obama2.jpg"]
    assert names(finished(registry, (await search(api, query, gallery="g1"))["id"]).result) == [[]]
    # The worker built its index above; a new enrolment must reach it
    obama = finished(registry, (await enroll(api, "g1", "Barack Obama", photos["obama.jpg"]))["id"])
    found = finished(registry, (await search(api, query, gallery="g1"))["id"]).result
    assert names(found) == [["Barack Obama"]] and found["gallery_version"] == 2
    # Forgetting the identity removes it from the index
    response = await api.delete(f"/api/v1/galleries/g1/identities/{obama.id}", headers=ADMIN)
    assert response.status == 200 and (await response.json())["version"] == 3
    assert names(finished(registry, (await search(api, query, gallery="g1"))["id"]).result) == [[]]
    again = await api.delete(f"/api/v1/galleries/g1/identities/{obama.id}", headers=ADMIN)
    assert again.status == 404 and (await again.json())["error"]["code"] == "identity_not_found"
    # Deleting the gallery: searches are refused; re-creating it starts from an empty index
    dropped = await api.delete("/api/v1/galleries/g1", headers=ADMIN)
    assert dropped.status == 200 and await dropped.json() == {"gallery": "g1", "removed": 1}
    refused = await api.post("/api/v1/jobs", json={"image": b64(query), "gallery": "g1"}, headers=ADMIN)
    assert refused.status == 404 and (await refused.json())["error"]["code"] == "gallery_not_found"
    finished(registry, (await enroll(api, "g1", "Barack Obama", photos["obama3.jpg"]))["id"])
    rebuilt = finished(registry, (await search(api, query, gallery="g1"))["id"]).result
    assert names(rebuilt) == [["Barack Obama"]] and rebuilt["gallery_version"] == 5


async def test_bad_input_at_run_time_fails_at_once_with_a_clear_error(
    api: TestClient[Any, Any],
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    photos: dict[str, bytes],
) -> None:
    start_worker(worker_queues=FACES)
    cat = finished(
        registry, (await enroll(api, "pets", "Chelsea", photos["chelsea.png"]))["id"], JobState.FAILED
    )
    assert "no face found" in cat.error and cat.attempts == 1 and cat.max_retries == 3
    # An image that expired before its job ran (or was never stored): failed, not retried
    expired = submit(registry, "face_search", [{"image": "ab" * 32}])
    job = finished(registry, expired, JobState.FAILED)
    assert "expired" in job.error and job.attempts == 1
    # Bytes stored by another producer are checked again by the worker
    truncated = photos["obama.jpg"][: len(photos["obama.jpg"]) // 2]
    with redis.Redis.from_url(registry.settings.redis_url) as binary:
        binary.set(keys.image_key(images.sha256_of(truncated)), truncated)
    damaged = finished(
        registry, submit(registry, "face_search", [{"image": images.sha256_of(truncated)}]), JobState.FAILED
    )
    assert "damaged or truncated" in damaged.error and damaged.attempts == 1
    # A search on a gallery deleted after submission fails the same way
    searched = submit(
        registry, "face_search", [{"image": images.sha256_of(photos["chelsea.png"]), "gallery": "nope"}]
    )
    assert "does not exist" in finished(registry, searched, JobState.FAILED).error


def bomb() -> bytes:
    from tests.shared.test_images import png, with_ihdr_size

    return with_ihdr_size(png(8, 8), 50_000, 50_000)


@pytest.mark.parametrize(
    ("make_body", "status", "code"),
    [
        (lambda p: form(b"just some text", name="x"), 415, "not_an_image"),
        (lambda p: form(p["obama.jpg"][:100_000], name="x"), 422, "corrupt_image"),
        (lambda p: form(bomb(), name="x"), 422, "image_too_large"),
        (lambda p: form(p["obama.jpg"]), 422, "validation_error"),  # no name
        (lambda p: {"name": "x", "image": "%%% not base64 %%%"}, 422, "validation_error"),
        (lambda p: {"name": " ", "image": b64(p["obama.jpg"])}, 422, "validation_error"),
        (lambda p: {"name": "x", "image": b64(p["obama.jpg"]), "extra": 1}, 422, "validation_error"),
    ],
)
async def test_bad_enrolment_uploads_are_refused_and_change_nothing(
    api: TestClient[Any, Any],
    raw: redis.Redis,
    photos: dict[str, bytes],
    make_body: Callable[[dict[str, bytes]], Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(raw)
    body = make_body(photos)
    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
    response = await api.post("/api/v1/galleries/demo/identities", headers=ADMIN, **kwargs)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code
    assert snapshot(raw) == before


async def test_bad_search_submissions_are_refused_and_change_nothing(
    api: TestClient[Any, Any], raw: redis.Redis, photos: dict[str, bytes]
) -> None:
    before = snapshot(raw)
    cases = [
        ({"image": b64(b"GIF89a but not really")}, 415),
        ({"image": b64(photos["obama.jpg"]), "gallery": "missing"}, 404),
        ({"image": b64(photos["obama.jpg"]), "top_k": 0}, 422),
        ({"image": b64(photos["obama.jpg"]), "threshold": 2}, 422),
        ({"image": b64(photos["obama.jpg"]), "queue": "diagnostics"}, 422),
        ({"image": b64(photos["obama.jpg"]), "gallery": "../etc"}, 422),
        ({"image": ""}, 422),
    ]
    for body, status in cases:
        assert isinstance(body, dict)
        response = await api.post("/api/v1/jobs", json=body, headers=ADMIN)
        assert response.status == status, (body.keys(), await response.text())
        assert set((await response.json())["error"]) == {"code", "message"}
    viewer = await api.post("/api/v1/jobs", data=form(photos["obama.jpg"]), headers=VIEWER)
    assert viewer.status == 403
    assert snapshot(raw) == before


async def test_images_over_the_size_limit_are_413(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis, photos: dict[str, bytes]
) -> None:
    small = await aiohttp_client(build_app(dataclasses.replace(settings, max_image_bytes=100_000)))
    before = snapshot(raw)
    multipart = await small.post("/api/v1/jobs", data=form(photos["obama.jpg"]), headers=ADMIN)
    assert multipart.status == 413 and (await multipart.json())["error"]["code"] == "payload_too_large"
    inline = await small.post("/api/v1/jobs", json={"image": b64(photos["obama.jpg"])}, headers=ADMIN)
    assert inline.status == 413
    enrol = await small.post(
        "/api/v1/galleries/g/identities", json={"name": "x", "image": b64(photos["obama.jpg"])}, headers=ADMIN
    )
    assert enrol.status == 413
    assert snapshot(raw) == before
    fits = await small.post("/api/v1/jobs", data=form(photos["chelsea.png"][:0] + _tiny_png()), headers=ADMIN)
    assert fits.status == 201


def _tiny_png() -> bytes:
    from tests.shared.test_images import png

    return png(64, 64)
