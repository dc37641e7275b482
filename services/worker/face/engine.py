"""Detection (YuNet) and embedding (SFace) through OpenCV DNN.

cv2's DNN objects are not thread-safe, so each worker thread gets its own
detector and recogniser (a few MB each); the model files are read once.

Issue 25: a photo is decoded only as large as the detector looks at (libjpeg's
scaled decode, see :func:`shared.images.decode_reduced`), the detector looks at
``max_side`` pixels (640 by default), and looks again at ``fine_side`` (1280, as
before issue 25) only when it found no face or a small one, where smaller faces may
hide below its floor (crowds). A photo is decoded again at full size only when a
face in it is too small in the reduced pixels for SFace's 112 px crop. Faces are
always reported in the stored image's coordinates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from services.worker.face.weights import ModelFiles
from shared import images
from shared.galleries import EMBEDDING_DIM

#: Non-maximum suppression overlap of the detector.
NMS_THRESHOLD = 0.3
#: Most faces reported per image.
MAX_FACES = 200
#: Side of SFace's aligned crop, in pixels.
CROP_SIDE = 112
#: Distance between the eyes in SFace's aligned crop (its alignment template, OpenCV's
#: face_recognize.cpp: eyes at (38.29, 51.70) and (73.53, 51.50)). A face whose eyes are
#: closer than this in the pixels at hand is upsampled by the crop.
TEMPLATE_EYE_DISTANCE = 35.24
#: Width (at the detector's working size) under which a found face suggests smaller ones may
#: hide below YuNet's ~12 px floor: the detector looks again, closer.
SMALL_FACE_PX = 32

#: Loads the photo with its longest side at least this many pixels (0: full size).
Loader = Callable[[int], "Photo"]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Photo:
    """Pixels to look at, and how they map onto the image as stored."""

    bgr: npt.NDArray[np.uint8]
    #: Stored pixels per pixel of ``bgr`` (1 at full size).
    scale: float
    #: The stored image's upright size.
    width: int
    height: int

    @classmethod
    def decoded(cls, decoded: images.Decoded) -> Photo:
        return cls(to_bgr(decoded.image), float(decoded.scale), decoded.width, decoded.height)

    @classmethod
    def full_size(cls, bgr: npt.NDArray[np.uint8]) -> Photo:
        return cls(bgr, 1.0, int(bgr.shape[1]), int(bgr.shape[0]))


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face, in the coordinates of the stored image."""

    #: x, y, width, height.
    box: tuple[float, float, float, float]
    #: Right eye, left eye, nose tip, right and left mouth corners.
    landmarks: tuple[tuple[float, float], ...]
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def eye_distance(self) -> float:
        (x1, y1), (x2, y2) = self.landmarks[:2]
        return math.hypot(x2 - x1, y2 - y1)

    def row(self, scale: float) -> npt.NDArray[np.float32]:
        """The detector's row in pixels that are ``scale`` stored pixels each, as alignment needs."""
        values = [*self.box, *(v for point in self.landmarks for v in point)]
        return np.array([*(v / scale for v in values), self.score], dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class Found:
    """What a photo holds: its faces (largest first) and their embeddings, row by row."""

    #: The pixels the embeddings came from (full size if a face needed it).
    photo: Photo
    faces: list[Face]
    vectors: npt.NDArray[np.float32]


def to_bgr(image: Image.Image) -> npt.NDArray[np.uint8]:
    """An RGB Pillow image as the BGR array OpenCV expects (one pass, not a strided numpy copy)."""
    bgr = cv2.cvtColor(np.asarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    return np.asarray(bgr, dtype=np.uint8)


class FaceEngine:
    """Finds faces and embeds them; safe to share between threads."""

    def __init__(
        self, files: ModelFiles, *, max_side: int = 640, fine_side: int = 0, score_threshold: float = 0.8
    ) -> None:
        self._detector_model = files.detector.read_bytes()
        self._recognizer_model = files.recognizer.read_bytes()
        self.max_side = max_side
        #: The closer look's working size (0 or <= max_side: none).
        self.fine_side = fine_side
        self.score_threshold = score_threshold
        self._local = threading.local()

    def _objects(self) -> tuple[Any, Any]:
        """This thread's detector and recogniser, created on first use."""
        objs: tuple[Any, Any] | None = getattr(self._local, "objs", None)
        if objs is None:
            detector = cv2.FaceDetectorYN.create(
                "onnx",
                np.frombuffer(self._detector_model, np.uint8),
                np.array([], np.uint8),
                (320, 320),
                self.score_threshold,
                NMS_THRESHOLD,
                MAX_FACES,
            )
            recognizer = cv2.FaceRecognizerSF.create(
                "onnx",
                np.frombuffer(self._recognizer_model, np.uint8),
                np.array([], np.uint8),
            )
            objs = (detector, recognizer)
            self._local.objs = objs
        return objs

    def warm_up(self) -> None:
        """Build this thread's objects and run each model once, so the first job pays nothing extra."""
        blank = Photo.full_size(np.zeros((160, 160, 3), np.uint8))
        self.detect(blank)
        self.embed(blank, None)

    def detect(self, photo: Photo, side: int = 0) -> list[Face]:
        """Every face above the score threshold, largest first, in stored-image coordinates.

        The detector looks at ``side`` pixels (default ``max_side``) or the photo's own, if fewer.
        """
        detector, _ = self._objects()
        bgr = photo.bgr
        height, width = bgr.shape[:2]
        shrink = min(1.0, (side or self.max_side) / max(height, width))
        area = cv2.INTER_AREA
        scaled = bgr if shrink == 1.0 else cv2.resize(bgr, None, fx=shrink, fy=shrink, interpolation=area)
        detector.setInputSize((scaled.shape[1], scaled.shape[0]))
        _, rows = detector.detect(scaled)
        faces = []
        for row in rows if rows is not None else []:
            values = [float(v) / shrink * photo.scale for v in row[:14]]
            faces.append(
                Face(
                    box=(values[0], values[1], values[2], values[3]),
                    landmarks=tuple((values[i], values[i + 1]) for i in range(4, 14, 2)),
                    score=float(row[14]),
                )
            )
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def closer_look(self, photo: Photo, faces: list[Face]) -> bool:
        """Whether to detect again at ``fine_side``: the first look shrank the photo and found
        no face, or a small one (smaller faces may be there, under the detector's floor)."""
        longest = max(photo.width, photo.height)
        if self.fine_side <= self.max_side or longest <= self.max_side:
            return False
        working = self.max_side / longest
        return not faces or min(f.box[2] for f in faces) * working < SMALL_FACE_PX

    def undersampled(self, photo: Photo, faces: list[Face]) -> bool:
        """Whether a face's crop would be upsampled from ``photo`` though the stored image has more pixels."""
        return photo.scale > 1 and any(f.eye_distance / photo.scale < TEMPLATE_EYE_DISTANCE for f in faces)

    def embed(self, photo: Photo, face: Face | None) -> Vector:
        """The face's unit-length 128-d embedding (cosine similarity = inner product)."""
        _, recognizer = self._objects()
        bgr = photo.bgr
        # No face: warm-up, on a blank crop of the aligned size.
        aligned = (
            cv2.resize(bgr, (CROP_SIDE, CROP_SIDE))
            if face is None
            else recognizer.alignCrop(bgr, face.row(photo.scale))
        )
        feature = np.asarray(recognizer.feature(aligned), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(feature))
        unit: Vector = feature / norm if norm > 0 else feature
        return unit

    def find(
        self,
        load: Loader,
        *,
        largest_only: bool = False,
        stage: Callable[[str], object] | None = None,
    ) -> Found:
        """Decode, detect and embed: every face, or only the largest.

        ``load(n)`` returns the photo with its longest side at least ``n`` pixels (0: full
        size); the engine asks for what the detector needs, then more only where a closer
        look or a small face's crop needs it. ``stage`` hears "decoded", "detected" and
        "embedded" as each step ends.
        """
        report = stage or (lambda _: None)
        photo = load(self.max_side)
        report("decoded")
        faces = self.detect(photo)
        if self.closer_look(photo, faces):
            if max(photo.bgr.shape[:2]) < min(self.fine_side, max(photo.width, photo.height)):
                photo = load(self.fine_side)
            faces = self.detect(photo, self.fine_side)
        report("detected")
        wanted = faces[:1] if largest_only else faces
        if self.undersampled(photo, wanted):
            photo = load(0)
        vectors = np.array([self.embed(photo, f) for f in wanted], dtype=np.float32)
        report("embedded")
        return Found(photo, faces, vectors.reshape(-1, EMBEDDING_DIM))
