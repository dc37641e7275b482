"""The Galleries view (issue 23): galleries and identities with face thumbnails, live; search by
name, enrol by dropping an image, rename, delete with confirmation; all in the URL."""

from __future__ import annotations

import re
from collections.abc import Callable

import redis
from playwright.sync_api import Page, expect

from shared import galleries
from shared.registry import Registry
from tests.api.dashboard.conftest import login, shot, toast
from tests.conftest import WorkerGroup


def enrol(registry: Registry, gallery: str, job_id: str, name: str) -> None:
    identity = galleries.Identity(id=job_id, name=name, job=job_id, box=[1, 2, 3, 4])
    registry.run(galleries.enroll(gallery, identity, b"\0" * galleries.EMBEDDING_BYTES))


def test_galleries_view_lists_searches_enrols_by_drop_renames_and_deletes_live(
    page: Page,
    registry: Registry,
    start_worker: Callable[..., WorkerGroup],
    photos: dict[str, bytes],
    raw: redis.Redis,
) -> None:
    # Given two galleries and a face worker
    before_ms = int(raw.time()[0]) * 1000
    for job_id, name in (("0a", "Ada Lovelace"), ("0b", "Bob"), ("0c", "ada king")):
        enrol(registry, "staff", job_id, name)
    after_ms = (int(raw.time()[0]) + 1) * 1000
    enrol(registry, "guests", "0g", "Gus")
    start_worker(worker_queues=("face_search",))
    login(page)
    page.click('#nav a[data-view="galleries"]')
    # Then every gallery is listed with its size and version
    expect(page.locator("a[data-gallery='staff']")).to_contain_text("3 · v3")
    expect(page.locator("a[data-gallery='guests']")).to_contain_text("1 · v1")
    # When one is opened, its identities show (a letter where no thumbnail was kept)
    page.click("a[data-gallery='staff']")
    assert page.url.endswith("#galleries?gallery=staff")
    expect(page.locator("[data-identity]")).to_have_count(3)
    expect(page.locator("[data-identity='0b'] .no-thumb")).to_have_text("B")
    # And each shows when it was enrolled: relative, the exact time (Redis clock) on hover
    enrolled = page.locator("[data-identity='0b'] time")
    expect(enrolled).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
    assert before_ms <= int(enrolled.get_attribute("data-ms") or 0) <= after_ms
    assert enrolled.get_attribute("title")
    assert (enrolled.get_attribute("datetime") or "").endswith("Z")
    # And a search by name narrows it, in the URL
    page.fill("#view-galleries [data-search]", "ADA")
    page.keyboard.press("Enter")
    expect(page.locator("[data-identity]")).to_have_count(2)
    assert "q=ADA" in page.url
    page.go_back()
    expect(page.locator("[data-identity]")).to_have_count(3)
    # When an image is dropped on the enrol form with a name
    zone = page.locator(".gallery-detail [data-dropzone]")
    zone.evaluate(
        """(zone, bytes) => {
          const dt = new DataTransfer();
          dt.items.add(new File([new Uint8Array(bytes)], "obama.jpg", { type: "image/jpeg" }));
          zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        list(photos["obama.jpg"]),
    )
    page.fill(".gallery-detail form.enrol input[name='name']", "Barack Obama")
    page.click(".gallery-detail form.enrol button[type=submit]")
    expect(toast(page, "Enrolling Barack Obama into staff")).to_be_visible()
    # Then, once the worker has enrolled the face, it appears live with its thumbnail
    card = page.locator("[data-identity]", has_text="Barack Obama")
    expect(card).to_be_visible(timeout=30_000)
    thumb = card.locator("img")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    expect(page.locator("a[data-gallery='staff']")).to_contain_text("4 · v4")
    shot(page, "galleries")
    # And its enrolling job opens in the drawer
    card.locator("button.link").click()
    expect(page.locator("#drawer [data-drawer-state]")).to_have_text("completed")
    page.keyboard.press("Escape")
    # When Bob is renamed
    page.once("dialog", lambda dialog: dialog.accept("Grace"))
    page.locator("[data-identity='0b'] [data-action='rename']").click()
    expect(page.locator("[data-identity='0b'] .name")).to_have_text("Grace")
    # And Ada is deleted, after confirming
    page.locator("[data-identity='0a'] [data-action='forget']").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")
    expect(page.locator("[data-identity='0a']")).to_have_count(0)
    # And another tab's enrolment shows up live
    enrol(registry, "staff", "0d", "Dee")
    expect(page.locator("[data-identity='0d']")).to_be_visible()
    # When the guests gallery is deleted, after confirming, it leaves the list
    page.click("a[data-gallery='guests']")
    page.click("[data-action='drop-gallery']")
    expect(page.locator("#confirm-text")).to_contain_text("all 1 identities")
    page.click("#confirm-ok")
    expect(page.locator("a[data-gallery='guests']")).to_have_count(0)
