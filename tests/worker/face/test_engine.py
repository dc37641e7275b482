"""The real models on real photos: detection, embedding similarity and the faiss index."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from services.worker.face.engine import TEMPLATE_EYE_DISTANCE, FaceEngine, Found, Photo
from services.worker.face.index import GalleryIndex
from services.worker.face.weights import locate
from shared import images
from shared.config import Settings
from shared.face_jobs import DEFAULT_THRESHOLD
from shared.galleries import Identity

MAX_PIXELS = 40_000_000


def worker_engine() -> FaceEngine:
    """The engine as a worker builds it from the default settings."""
    settings = Settings()
    return FaceEngine(
        locate(), max_side=settings.face_detect_max_side, fine_side=settings.face_detect_fine_side
    )


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return worker_engine()


def faces_of(engine: FaceEngine, data: bytes) -> tuple[Photo, list[Any]]:
    """The faces found in the photo decoded as the worker does (reduced for the detector)."""
    photo = Photo.decoded(images.decode_reduced(data, MAX_PIXELS, engine.max_side))
    return photo, engine.detect(photo)


def embedding(engine: FaceEngine, data: bytes) -> np.ndarray:
    found = engine.find(lambda at_least: Photo.decoded(images.decode_reduced(data, MAX_PIXELS, 0)))
    assert found.faces, "expected a face"
    vector: np.ndarray = found.vectors[0]
    return vector


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("obama.jpg", 1),
        ("biden.jpg", 1),
        ("astronaut.png", 1),
        ("camera.png", 1),
        ("chelsea.png", 0),
        ("coffee.png", 0),
        ("pair.jpg", 2),
    ],
)
def test_detects_the_faces_in_each_photo(
    engine: FaceEngine, photos: dict[str, bytes], name: str, count: int
) -> None:
    photo, faces = faces_of(engine, photos[name])
    assert len(faces) == count
    height, width = photo.height, photo.width
    for face in faces:
        x, y, w, h = face.box
        assert face.score >= 0.8
        assert 0 <= x + w / 2 <= width and 0 <= y + h / 2 <= height
        assert len(face.landmarks) == 5


def test_faces_in_a_composed_image_are_ordered_largest_first_and_found_left_and_right(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    photo, faces = faces_of(engine, photos["pair.jpg"])
    assert faces[0].area >= faces[1].area
    centres = sorted(f.box[0] + f.box[2] / 2 for f in faces)
    assert centres[0] < photo.width / 2 < centres[1]


def test_same_person_scores_above_the_threshold_and_different_people_below(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    obama, obama2, obama3, biden = (
        embedding(engine, photos[n]) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
    )
    for vector in (obama, obama2, obama3, biden):
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert float(obama @ obama2) > DEFAULT_THRESHOLD + 0.2
    assert float(obama @ obama3) > DEFAULT_THRESHOLD + 0.2
    for other in (obama, obama2, obama3):
        assert float(other @ biden) < DEFAULT_THRESHOLD


def test_a_downscaled_copy_of_a_face_matches_its_original(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    """The detector sees large images scaled down; the embedding still comes from the full image."""
    small = FaceEngine(locate(), max_side=400)
    full = embedding(engine, photos["obama3.jpg"])
    scaled = embedding(small, photos["obama3.jpg"])
    assert float(full @ scaled) > 0.9


def test_index_returns_top_k_above_threshold_and_forgets_removed_identities(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    index = GalleryIndex("g")
    obama, biden = embedding(engine, photos["obama.jpg"]), embedding(engine, photos["biden.jpg"])
    index.add(Identity("o", "Obama", n=1), obama.tobytes())
    index.add(Identity("b", "Biden", n=2), biden.tobytes())
    index.add(Identity("o", "Obama", n=1), obama.tobytes())  # idempotent
    assert len(index) == 2
    query = embedding(engine, photos["obama2.jpg"]).reshape(1, -1)
    [matches] = index.search(query, 5, DEFAULT_THRESHOLD)
    assert [m.name for m in matches] == ["Obama"]
    [everyone] = index.search(query, 5, -1.0)
    assert [m.name for m in everyone] == ["Obama", "Biden"]
    index.remove("o")
    [after] = index.search(query, 5, DEFAULT_THRESHOLD)
    assert after == []


# Issue 25: reduced decode, detection at 640 px, full-size decode only for small faces.

FULL_SIZE_SIDE = 1280
GALLERY = {"obama.jpg": "Obama", "biden.jpg": "Biden"}
#: The bench's photos with a face larger than the detector's working size.
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
QUERIES = (
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "biden.jpg",
    "pair.jpg",
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
)


def full_resolution(engine: FaceEngine, data: bytes) -> Found:
    """Before issue 25: every pixel decoded, the detector at 1280 px."""
    return engine.find(lambda at_least: Photo.decoded(images.decode_reduced(data, MAX_PIXELS, 0)))


def reduced(engine: FaceEngine, data: bytes) -> Found:
    """As the worker does now: decoded for the detector, full size only when a face needs it."""
    return engine.find(lambda at_least: Photo.decoded(images.decode_reduced(data, MAX_PIXELS, at_least)))


def top1(found: Found, index: GalleryIndex, threshold: float) -> list[str | None]:
    results = index.search(found.vectors, 1, threshold)
    return [matches[0].name if matches else None for matches in results]


def test_the_reduced_path_finds_the_same_top1_identities_as_the_full_resolution_path(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    """Each path with its own gallery (enrolled its way), on every test photo; same answers."""
    old_engine = FaceEngine(locate(), max_side=FULL_SIZE_SIDE)
    old_index, new_index = GalleryIndex("old"), GalleryIndex("new")
    for n, (name, person) in enumerate(GALLERY.items(), start=1):
        old_index.add(
            Identity(name, person, n=n), full_resolution(old_engine, photos[name]).vectors[0].tobytes()
        )
        new_index.add(Identity(name, person, n=n), reduced(engine, photos[name]).vectors[0].tobytes())
    reduced_some = False
    for name in QUERIES:
        old, new = full_resolution(old_engine, photos[name]), reduced(engine, photos[name])
        reduced_some |= new.photo.scale > 1
        assert (new.photo.width, new.photo.height) == (old.photo.width, old.photo.height), name
        assert len(new.faces) == len(old.faces), name
        for a, b in zip(old.faces, new.faces, strict=True):  # the same face: centres within 1/5 of its size
            assert abs((a.box[0] + a.box[2] / 2) - (b.box[0] + b.box[2] / 2)) < a.box[2] / 5, name
            assert abs((a.box[1] + a.box[3] / 2) - (b.box[1] + b.box[3] / 2)) < a.box[3] / 5, name
        for threshold in (DEFAULT_THRESHOLD, -1.0):
            assert top1(new, new_index, threshold) == top1(old, old_index, threshold), (name, threshold)
        if name in ("obama2.jpg", "obama3.jpg", "pair.jpg"):
            assert "Obama" in top1(new, new_index, DEFAULT_THRESHOLD), name
    assert reduced_some, "expected some photo to be decoded at a reduced size"


def test_a_large_photo_is_decoded_reduced_and_faces_reported_in_its_own_coordinates(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    decoded = images.decode_reduced(photos["obama3.jpg"], MAX_PIXELS, engine.max_side)
    assert (decoded.width, decoded.height) == (1434, 2333)
    assert decoded.scale == 2 and decoded.image.size == (717, 1167)
    full = images.decode_reduced(photos["obama3.jpg"], MAX_PIXELS, 0)
    assert full.scale == 1 and full.image.size == (1434, 2333)
    old = full_resolution(FaceEngine(locate(), max_side=FULL_SIZE_SIDE), photos["obama3.jpg"])
    new = reduced(engine, photos["obama3.jpg"])
    assert new.photo.scale == 2  # the face is large: no second decode
    assert new.faces[0].box == pytest.approx(old.faces[0].box, rel=0.1)


def test_a_small_face_in_a_large_photo_is_embedded_from_the_full_size_pixels(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    """A face whose eyes are close in the reduced pixels: the crop would upsample, so decode again."""
    face = Image.open(io.BytesIO(photos["obama.jpg"])).convert("RGB").resize((228, 285))
    canvas = Image.new("RGB", (2600, 2000), "white")
    canvas.paste(face, (1200, 900))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=95)
    data = out.getvalue()
    first = Photo.decoded(images.decode_reduced(data, MAX_PIXELS, engine.max_side))
    [small] = engine.detect(first)
    assert first.scale == 4 and small.eye_distance / first.scale < TEMPLATE_EYE_DISTANCE
    assert engine.undersampled(first, [small])
    new = reduced(engine, data)
    assert new.photo.scale == 1 and new.photo.bgr.shape[:2] == (2000, 2600)
    assert float(new.vectors[0] @ embedding(engine, photos["obama2.jpg"])) > DEFAULT_THRESHOLD


def crowd(photos: dict[str, bytes], face_px: int, count: int = 40) -> bytes:
    """A 2400 x 1600 JPEG holding ``count`` heads whose faces are ``face_px`` wide."""
    finder = FaceEngine(locate(), max_side=FULL_SIZE_SIDE)
    heads = []
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        image = images.decode(photos[name], MAX_PIXELS)
        [face] = finder.detect(Photo.decoded(images.decode_reduced(photos[name], MAX_PIXELS, 0)))
        x, y, w, h = face.box
        head = image.crop((int(x - 0.6 * w), int(y - 0.6 * h), int(x + 1.6 * w), int(y + 1.6 * h)))
        k = face_px / w
        heads.append(head.resize((max(1, round(head.width * k)), max(1, round(head.height * k)))))
    canvas = Image.new("RGB", (2400, 1600), (200, 200, 200))
    step, columns = 4 * face_px, 2400 // (4 * face_px) - 1
    for n in range(count):
        canvas.paste(heads[n % len(heads)], ((n % columns) * step, (n // columns) * step))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.mark.parametrize("face_px", [24, 48])
def test_crowds_of_small_faces_are_found_by_the_closer_look(
    engine: FaceEngine, photos: dict[str, bytes], face_px: int
) -> None:
    """At 640 px the detector misses 24 px faces of a 2400 px photo; its closer look at 1280 finds them."""
    data = crowd(photos, face_px)
    first_only = FaceEngine(locate(), max_side=engine.max_side)
    if face_px == 24:
        assert len(reduced(first_only, data).faces) < 10
    assert len(reduced(engine, data).faces) >= 36


@pytest.mark.parametrize("name", PORTRAITS)
def test_photos_of_large_faces_need_no_closer_look(
    engine: FaceEngine, photos: dict[str, bytes], name: str
) -> None:
    photo, faces = faces_of(engine, photos[name])
    assert faces and not engine.closer_look(photo, faces)
