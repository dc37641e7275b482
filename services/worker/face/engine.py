"""Detection (YuNet) and embedding (SFace) through OpenCV DNN.

cv2's DNN objects are not thread-safe, so each worker thread gets its own
detector and recogniser (a few MB each); the model files are read once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from services.worker.face.weights import ModelFiles

#: Non-maximum suppression overlap of the detector.
NMS_THRESHOLD = 0.3
#: Most faces reported per image.
MAX_FACES = 200

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face, in the coordinates of the original image."""

    #: x, y, width, height.
    box: tuple[float, float, float, float]
    #: Right eye, left eye, nose tip, right and left mouth corners.
    landmarks: tuple[tuple[float, float], ...]
    score: float
    #: The detector's row in original coordinates, which alignment needs.
    row: Any

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 4),
        }


def to_bgr(image: Image.Image) -> npt.NDArray[np.uint8]:
    """An RGB Pillow image as the BGR array OpenCV expects."""
    rgb = np.asarray(image, dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


class FaceEngine:
    """Finds faces and embeds them; safe to share between threads."""

    def __init__(self, files: ModelFiles, *, max_side: int = 1280, score_threshold: float = 0.8) -> None:
        self._detector_model = files.detector.read_bytes()
        self._recognizer_model = files.recognizer.read_bytes()
        self.max_side = max_side
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
        blank = np.zeros((160, 160, 3), np.uint8)
        self.detect(blank)
        self.embed(blank, None)

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Face]:
        """Every face above the score threshold, largest first."""
        detector, _ = self._objects()
        height, width = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        scaled = (
            bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        detector.setInputSize((scaled.shape[1], scaled.shape[0]))
        _, rows = detector.detect(scaled)
        faces = []
        for row in rows if rows is not None else []:
            values = [float(v) / scale for v in row[:14]]
            original = np.array([*values, float(row[14])], dtype=np.float32)
            faces.append(
                Face(
                    box=(values[0], values[1], values[2], values[3]),
                    landmarks=tuple((values[i], values[i + 1]) for i in range(4, 14, 2)),
                    score=float(row[14]),
                    row=original,
                )
            )
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def embed(self, bgr: npt.NDArray[np.uint8], face: Face | None) -> Vector:
        """The face's unit-length 128-d embedding (cosine similarity = inner product)."""
        _, recognizer = self._objects()
        # No face: warm-up, on a blank crop of the aligned size.
        aligned = cv2.resize(bgr, (112, 112)) if face is None else recognizer.alignCrop(bgr, face.row)
        feature = np.asarray(recognizer.feature(aligned), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(feature))
        unit: Vector = feature / norm if norm > 0 else feature
        return unit
