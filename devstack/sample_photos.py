"""Real photos for the face tests and ``make run``'s demo, from registry packages (never committed).

``face_recognition==1.3.0``'s source distribution carries photos of two people;
scikit-image's wheel (a dev dependency) carries photos with faces (astronaut,
camera) and without (chelsea the cat, coffee). The sdist is fetched once with pip
into a cache folder (``.cache/sample-photos`` by default).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from PIL import Image

CACHE = Path(".cache") / "sample-photos"
SDIST = "face_recognition==1.3.0"
SDIST_FILES = {
    "obama.jpg": "face_recognition-1.3.0/tests/test_images/obama.jpg",
    "obama2.jpg": "face_recognition-1.3.0/tests/test_images/obama2.jpg",
    "obama3.jpg": "face_recognition-1.3.0/tests/test_images/obama3.jpg",
    "biden.jpg": "face_recognition-1.3.0/tests/test_images/biden.jpg",
    "obama_partial_face.jpg": "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
}
SKIMAGE_FILES = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png")


def _fetch_sdist(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob("face_recognition-1.3.0.tar.gz"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*pip, SDIST, "-d", str(cache)], check=True)
        found = sorted(cache.glob("face_recognition-1.3.0.tar.gz"))
    return found[0]


def load_all(cache: Path = CACHE) -> dict[str, bytes]:
    """Every photo by file name, plus ``pair.jpg`` (Obama and Biden side by side)."""
    import skimage  # a dev dependency: imported only when photos are wanted

    photos: dict[str, bytes] = {}
    with tarfile.open(_fetch_sdist(cache)) as tar:
        for name, member in SDIST_FILES.items():
            extracted = tar.extractfile(member)
            assert extracted is not None
            photos[name] = extracted.read()
    data_dir = Path(skimage.__file__).parent / "data"
    for name in SKIMAGE_FILES:
        photos[name] = (data_dir / name).read_bytes()
    photos["pair.jpg"] = side_by_side(photos["obama2.jpg"], photos["biden.jpg"])
    return photos


def side_by_side(*parts: bytes, height: int = 600) -> bytes:
    """One JPEG holding several photos scaled to the same height: several faces in one image."""
    images = []
    for data in parts:
        image = Image.open(io.BytesIO(data)).convert("RGB")
        images.append(image.resize((round(image.width * height / image.height), height)))
    canvas = Image.new("RGB", (sum(i.width for i in images), height), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()
