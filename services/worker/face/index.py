"""Each worker's in-memory search index per gallery, kept current from Redis.

A search first compares the gallery's version in Redis with the index's (one
HGET): when behind, the index replays the gallery's change log, or rebuilds when
the log no longer reaches back far enough. ``gallery`` events only make this
happen sooner, so a missed event costs nothing but a slightly later catch-up.
Applying a change is idempotent, so a rebuild racing with enrolments is safe.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import cast

import faiss
import numpy as np
import redis

from shared import keys
from shared.errors import GalleryNotFound
from shared.galleries import EMBEDDING_DIM, Change, Identity

#: Fields read per HSCAN step while rebuilding (bounds each Redis call's cost).
SCAN_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Match:
    identity: str
    name: str
    similarity: float

    def to_dict(self) -> dict[str, object]:
        return {"identity": self.identity, "name": self.name, "similarity": round(self.similarity, 4)}


class GalleryIndex:
    """One gallery's identities in a faiss inner-product index over unit vectors."""

    def __init__(self, gallery: str) -> None:
        self.gallery = gallery
        self.version = 0
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(EMBEDDING_DIM))
        #: Index id (the identity's enrolment version) -> identity.
        self._by_n: dict[int, Identity] = {}
        self._n_of: dict[str, int] = {}
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_n)

    def add(self, identity: Identity, embedding: bytes) -> None:
        if identity.id in self._n_of:
            return
        vector = np.frombuffer(embedding, dtype=np.float32).reshape(1, EMBEDDING_DIM)
        self._index.add_with_ids(vector, np.array([identity.n], dtype=np.int64))
        self._by_n[identity.n] = identity
        self._n_of[identity.id] = identity.n

    def remove(self, identity_id: str) -> None:
        n = self._n_of.pop(identity_id, None)
        if n is not None:
            self._index.remove_ids(np.array([n], dtype=np.int64))  # type: ignore[arg-type]
            del self._by_n[n]

    def clear(self) -> None:
        self._index.reset()
        self._by_n.clear()
        self._n_of.clear()

    def search(self, vectors: np.ndarray, top_k: int, threshold: float) -> list[list[Match]]:
        """Per query vector, the best ``top_k`` identities at or above ``threshold``, best first."""
        if not len(self) or not len(vectors):
            return [[] for _ in range(len(vectors))]
        scores, ids = self._index.search(
            np.ascontiguousarray(vectors, dtype=np.float32), min(top_k, len(self))
        )
        results = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            matches = []
            for score, n in zip(row_scores, row_ids, strict=True):
                identity = self._by_n.get(int(n))
                if identity is not None and score >= threshold:
                    matches.append(Match(identity.id, identity.name, float(score)))
            results.append(matches)
        return results


class GalleryIndexes:
    """Every gallery this worker process has searched, each synced before use."""

    def __init__(self, client: redis.Redis) -> None:
        #: A binary client: embeddings are raw float32 bytes.
        self.client = client
        self._indexes: dict[str, GalleryIndex] = {}
        self._lock = threading.Lock()

    def get(self, gallery: str) -> GalleryIndex:
        """The gallery's index, brought up to date with Redis; caller holds ``index.lock`` to search."""
        with self._lock:
            index = self._indexes.setdefault(gallery, GalleryIndex(gallery))
        with index.lock:
            self._sync(index)
        return index

    def notify(self, gallery: str) -> None:
        """A ``gallery`` event arrived: catch up now if this process holds that gallery."""
        index = self._indexes.get(gallery)
        if index is not None:
            with index.lock, contextlib.suppress(GalleryNotFound):
                self._sync(index)

    def _sync(self, index: GalleryIndex) -> None:
        gallery = index.gallery
        exists, version = self._state(gallery)
        if not exists:
            index.clear()
            index.version = version
            raise GalleryNotFound(f"gallery {gallery!r} does not exist")
        if version == index.version:
            return
        raw = cast(
            list[bytes],
            self.client.zrangebyscore(keys.gallery_changes_key(gallery), f"({index.version}", version),
        )
        changes = [Change.parse(c) for c in raw]
        contiguous = len(changes) == version - index.version and index.version > 0
        if not contiguous or any(c.kind == "*" for c in changes):
            self._rebuild(index)
            return
        added = [c.identity for c in changes if c.kind == "+"]
        embeddings = self._embeddings(gallery, added)
        records = self._records(gallery, list(embeddings))
        for change in changes:
            if change.kind == "-":
                index.remove(change.identity)
            elif change.identity in records:  # absent: forgotten since (a later change says so)
                index.add(records[change.identity], embeddings[change.identity])
        index.version = version

    def _state(self, gallery: str) -> tuple[bool, int]:
        pipe = self.client.pipeline(transaction=False)
        pipe.sismember(keys.GALLERIES, gallery)
        pipe.hget(keys.GALLERY_VERSIONS, gallery)
        exists, version = pipe.execute()
        return bool(exists), int(version or 0)

    def _embeddings(self, gallery: str, ids: list[str]) -> dict[str, bytes]:
        if not ids:
            return {}
        vectors = cast(list[bytes | None], self.client.hmget(keys.gallery_embeddings_key(gallery), ids))
        return {i: v for i, v in zip(ids, vectors, strict=True) if v is not None}

    def _records(self, gallery: str, ids: list[str]) -> dict[str, Identity]:
        if not ids:
            return {}
        raws = cast(list[bytes | None], self.client.hmget(keys.gallery_identities_key(gallery), ids))
        return {i: Identity.from_json(r) for i, r in zip(ids, raws, strict=True) if r is not None}

    def _rebuild(self, index: GalleryIndex) -> None:
        """Read the whole gallery in bounded steps; the version is read first, so later changes replay."""
        _, version = self._state(index.gallery)
        index.clear()
        embeddings_key = keys.gallery_embeddings_key(index.gallery)
        cursor = 0
        while True:
            cursor, batch = cast(
                tuple[int, dict[bytes, bytes]], self.client.hscan(embeddings_key, cursor, count=SCAN_COUNT)
            )
            embeddings = {k.decode(): v for k, v in batch.items()}
            records = self._records(index.gallery, list(embeddings))
            for identity_id, record in records.items():
                index.add(record, embeddings[identity_id])
            if cursor == 0:
                break
        index.version = version
