"""What the face actors of one worker process share: models, indexes, image store.

Built at worker start when the process consumes the face queue, so missing or
altered model files stop the worker before it takes a single job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import faiss
import redis

from services.worker.face.engine import FaceEngine, Photo
from services.worker.face.index import GalleryIndexes
from services.worker.face.weights import locate
from shared import images, keys, redis_clients
from shared.config import Settings
from shared.errors import InvalidImage
from shared.logging import get_logger

log = get_logger(__name__)


def decode_photo(data: bytes, settings: Settings, at_least: int = 0) -> Photo:
    """The image's pixels, reduced (JPEG) to a longest side of at least ``at_least`` (0: full size)."""
    decoded = images.decode_reduced(
        data, settings.max_image_pixels, at_least, concurrency=settings.decode_concurrency
    )
    return Photo.decoded(decoded)


def single_threaded_kernels() -> None:
    """Parallelism comes from worker processes x threads; nested OpenCV/OpenMP threads only contend."""
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)


@dataclass
class FaceRuntime:
    settings: Settings
    engine: FaceEngine
    #: Binary client: images and embeddings are raw bytes.
    raw: redis.Redis
    indexes: GalleryIndexes
    _listener: threading.Thread | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> FaceRuntime:
        files = locate(settings.face_model_dir)  # raises ModelFilesError: the worker must not start
        single_threaded_kernels()
        engine = FaceEngine(
            files,
            max_side=settings.face_detect_max_side,
            fine_side=settings.face_detect_fine_side,
            score_threshold=settings.face_detect_score,
        )
        raw = redis_clients.sync_client(settings, decode=False)
        return cls(settings, engine, raw, GalleryIndexes(raw))

    def load_photo(self, sha256: str, at_least: int = 0) -> Photo:
        """The stored image, reduced (JPEG) to a longest side of at least ``at_least`` (0: full size).

        InvalidImage when it expired or cannot be decoded.
        """
        data = self.raw.get(keys.image_key(sha256))
        if data is None:
            raise InvalidImage(f"image {sha256} has expired or was never stored; upload it again")
        return decode_photo(data, self.settings, at_least)  # type: ignore[arg-type]

    def listen(self) -> None:
        """Follow gallery changes in a thread, so indexes catch up before the next search."""
        self._listener = threading.Thread(target=self._follow, name="fq-gallery-events", daemon=True)
        self._listener.start()

    def _follow(self) -> None:
        while not self._stopping.is_set():
            pubsub = self.raw.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                # Not queue:updates: every job transition goes there, and each would wake this
                # thread (~25 us of CPU per event and worker process, issue 9).
                pubsub.subscribe(keys.GALLERY_CHANGED_CHANNEL)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.indexes.notify(message["data"].decode())
            except redis.RedisError as exc:
                log.warning("gallery event listener lost Redis; searches still sync", error=str(exc))
                self._stopping.wait(1.0)
            except Exception:
                log.exception("gallery event listener error; searches still sync")
                self._stopping.wait(1.0)
            finally:
                pubsub.close()

    def close(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.join(timeout=3)
        self.raw.close()
