"""The real models on real photos: detection, embedding similarity and the faiss index."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from services.worker.face.engine import FaceEngine, to_bgr
from services.worker.face.index import GalleryIndex
from services.worker.face.weights import locate
from shared import images
from shared.face_jobs import DEFAULT_THRESHOLD
from shared.galleries import Identity

MAX_PIXELS = 40_000_000


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(locate())


def faces_of(engine: FaceEngine, data: bytes) -> tuple[np.ndarray, list[Any]]:
    bgr = to_bgr(images.decode(data, MAX_PIXELS))
    return bgr, engine.detect(bgr)


def embedding(engine: FaceEngine, data: bytes) -> np.ndarray:
    bgr, faces = faces_of(engine, data)
    assert faces, "expected a face"
    return engine.embed(bgr, faces[0])


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
    bgr, faces = faces_of(engine, photos[name])
    assert len(faces) == count
    height, width = bgr.shape[:2]
    for face in faces:
        x, y, w, h = face.box
        assert face.score >= 0.8
        assert 0 <= x + w / 2 <= width and 0 <= y + h / 2 <= height
        assert len(face.landmarks) == 5


def test_faces_in_a_composed_image_are_ordered_largest_first_and_found_left_and_right(
    engine: FaceEngine, photos: dict[str, bytes]
) -> None:
    bgr, faces = faces_of(engine, photos["pair.jpg"])
    assert faces[0].area >= faces[1].area
    centres = sorted(f.box[0] + f.box[2] / 2 for f in faces)
    assert centres[0] < bgr.shape[1] / 2 < centres[1]


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
