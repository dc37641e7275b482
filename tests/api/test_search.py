"""Job search by content (issue 23): the index the scripts keep, the bounded scan, the API syntax."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from bench.job_search import NEEDLE, NEEDLE_EVERY, fill
from shared import keys, reads, transitions
from shared.jobs import new_job_id
from shared.registry import Registry
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER

IMAGE = "3fa2" + "0" * 60


async def search(api: TestClient[Any, Any], q: str, **params: str) -> dict[str, Any]:
    response = await api.get("/api/v1/jobs", params={"q": q, **params}, headers=VIEWER)
    assert response.status == 200, await response.text()
    page: dict[str, Any] = await response.json()
    return page


async def all_ids(api: TestClient[Any, Any], q: str, **params: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await search(api, q, limit="500", **params, **({"cursor": cursor} if cursor else {}))
        ids += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_a_search_by_an_argument_value_finds_exactly_its_jobs_among_100000(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Given 100,000 face searches over many galleries, 100 of them in the needle gallery
    needles = fill(raw, 100_000)
    assert len(needles) == 100_000 // NEEDLE_EVERY
    try:
        # When searching by the argument's value
        page = await search(api, f"args.gallery:{NEEDLE}", limit="500")
        # Then exactly those jobs come back, newest first, read from the index alone (no scan
        # of the other 99,900: the time it takes is the bench part's figure, `search`)
        assert [j["id"] for j in page["jobs"]] == needles[::-1]
        assert page["indexed"] == "gallery"
        assert page["scanned"] == page["candidates"] == len(needles)
        assert page["next_cursor"] is None
    finally:
        raw.flushall(asynchronous=True)  # the next test's (synchronous) flush finds little left


async def test_a_scan_that_runs_out_of_budget_says_how_much_it_searched(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Given 600 jobs, none with top_k 7 (the scan-only term)
    fill(raw, 600)
    # When scanning with a budget of 250
    page = await search(api, "args.top_k:7", budget="250")
    # Then nothing is found yet, and the answer says 250 of 600 were searched, with a cursor to go on
    assert page["jobs"] == [] and page["scanned"] == 250 and page["candidates"] == 600
    assert page["indexed"] is None and page["next_cursor"]
    second = await search(api, "args.top_k:7", budget="250", cursor=page["next_cursor"])
    assert second["scanned"] == 250
    # And a scanned value that exists is found by any path to it
    assert len(await all_ids(api, "args.request.top_k:5", budget="50000")) == 600


async def test_catalog_fields_results_errors_and_record_filters_combine(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    # Given face jobs in two galleries, one completed with a match and one failed with a timeout
    def face(gallery: str, image: str = "a" * 64) -> str:
        call = transitions.submit(
            job_id=new_job_id(),
            queue="face_search",
            actor="face_search",
            args=[{"image": image, "gallery": gallery}],
            priority=5,
            max_retries=0,
            delay_ms=0,
        )
        registry.run(call)
        return str(call.args[0])

    demo = [face("demo"), face("demo", IMAGE), face("demo")]
    other = face("other", IMAGE)
    for job_id in (demo[0], demo[1]):
        registry.client.hset(keys.job_key(job_id), mapping={"state": "active", "gen": 0, "worker": "w"})
        registry.client.zadd(keys.state_key("face_search", "active"), {job_id: 0})
    result = '{"faces": [{"matches": [{"name": "Bob", "similarity": 0.9}]}]}'
    assert registry.run(transitions.complete(demo[0], "face_search", 0, "w", result, actor="face_search"))
    assert registry.run(transitions.fail(demo[1], "face_search", 0, "w", "TimeoutError: took 30 s", ""))
    # Then each kind of term finds its jobs
    assert await all_ids(api, "gallery:demo") == demo[::-1]
    assert await all_ids(api, "args.request.gallery:demo state:waiting") == [demo[2]]
    assert await all_ids(api, "image:3fa2") == [other, demo[1]]
    assert await all_ids(api, "image:3fa2 queue:face_search gallery:other") == [other]
    assert await all_ids(api, "match:Bob") == [demo[0]]
    assert await all_ids(api, "result.faces.*.matches.*.similarity:0.9") == [demo[0]]
    assert await all_ids(api, "error:Timeout") == [demo[1]]
    assert await all_ids(api, "error:timeouterror:") == [demo[1]]  # not indexable: scanned
    assert await all_ids(api, "gallery:demo after:1h") == demo[::-1]
    assert await all_ids(api, "gallery:demo before:1h") == []
    assert await all_ids(api, "gal") == []  # a bare word is an id prefix
    # And a deleted job leaves the index when a search meets it
    response = await api.delete(f"/api/v1/jobs/{demo[2]}", headers=ADMIN)
    assert response.status == 200
    assert await all_ids(api, "gallery:demo") == demo[1::-1]
    left = registry.client.zrange(keys.SEARCH_INDEX, 0, -1)
    assert f"gallery\x1fdemo\x1f{demo[2]}" not in left  # (its image entry goes when a search meets it)


def test_the_monitor_sweep_drops_index_entries_of_jobs_that_are_gone(
    raw: redis.Redis, registry: Registry
) -> None:
    # Given 30 indexed jobs, 10 of them removed behind the index's back (as retention trims)
    needles = fill(raw, 30, needle_every=3)
    entries = raw.zcard(keys.SEARCH_INDEX)
    gone = needles + [m.rsplit("\x1f", 1)[1] for m in typed_redis.zrange(raw, keys.SEARCH_INDEX, 0, 9)]
    gone = list(dict.fromkeys(gone))[:10]
    raw.delete(*[keys.job_key(j) for j in gone])
    # When the sweep runs in small steps until it wraps around
    seen = 0
    while True:
        looked, _ = registry.run(reads.sweep_search_index(7))
        seen += looked
        if looked < 7:
            break
    # Then every entry of a removed job is gone and the others stay
    left = typed_redis.zrange(raw, keys.SEARCH_INDEX, 0, -1)
    assert seen == entries
    assert not any(m.rsplit("\x1f", 1)[1] in gone for m in left)
    assert len(left) == entries - 2 * len(gone)  # two entries (gallery, image) per face search
    assert not raw.exists(keys.SEARCH_SWEEP)
