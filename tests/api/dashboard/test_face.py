"""Face search from the page: enrol people by upload, search a photo, see the boxes and names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from shared.registry import Registry
from shared.states import JobState
from tests.api.dashboard.conftest import Stack, login, shot
from tests.processes import WorkerGroup, wait_for


def test_enrol_by_upload_then_a_search_draws_each_face_with_its_name(
    page: Page,
    stack: Stack,
    registry: Registry,
    start_worker: Callable[..., WorkerGroup],
    photos: dict[str, bytes],
    tmp_path: Path,
) -> None:
    start_worker(worker_queues=("face_search",))
    files = {}
    for name in ("obama.jpg", "biden.jpg", "pair.jpg"):
        files[name] = tmp_path / name
        files[name].write_bytes(photos[name])
    login(page)
    page.click('#nav a[data-view="submit"]')
    drawer = page.locator("#drawer")
    # Given two people enrolled through the page's form (each a tracked enroll job)
    for person, photo in (("Barack Obama", "obama.jpg"), ("Joe Biden", "biden.jpg")):
        enroll = page.locator("form.enroll")
        enroll.locator('input[name="gallery"]').fill("people")
        enroll.locator('input[name="name"]').fill(person)
        enroll.locator('input[name="image"]').set_input_files(str(files[photo]))
        enroll.locator("button[type=submit]").click()
        expect(drawer.locator("[data-drawer-state]")).to_have_text("completed", timeout=30_000)
        page.keyboard.press("Escape")
    expect(page.locator(".face-note")).to_contain_text("people (2)")
    # When a photo of both is searched from the page
    search = page.locator("form.face-search")
    search.locator('input[name="image"]').set_input_files(str(files["pair.jpg"]))
    search.locator('input[name="gallery"]').fill("people")
    search.locator("button[type=submit]").click()
    expect(drawer.locator("[data-drawer-state]")).to_have_text("completed", timeout=30_000)
    # Then the drawer lists both faces with the right names and draws the image with its boxes
    faces = drawer.locator(".face-list li")
    expect(faces).to_have_count(2)
    expect(drawer.locator(".face-list")).to_contain_text("Barack Obama")
    expect(drawer.locator(".face-list")).to_contain_text("Joe Biden")
    page.wait_for_function(
        "() => { const c = document.querySelector('#drawer canvas.faces');"
        " return c && c.width > 100 && c.toDataURL().length > 5000; }"
    )
    shot(page, "drawer-face-search")
    job_id = drawer.locator("h2").inner_text()
    wait_for(lambda: registry.get(job_id).state is JobState.COMPLETED, what="the search job")
    names = sorted(m["name"] for face in registry.get(job_id).result["faces"] for m in face["matches"][:1])
    assert names == ["Barack Obama", "Joe Biden"]
