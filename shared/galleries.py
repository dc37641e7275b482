"""Galleries of enrolled identities: records and embeddings in Redis, changed by one script each.

Every change bumps the gallery's version and appends to its change log, so a
worker's in-memory index can catch up from any version it holds (or rebuild when
the log no longer reaches back that far).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio

from shared import keys
from shared.errors import GalleryNotFound, IdentityNotFound
from shared.names import NAME_PATTERN as NAME_PATTERN  # re-exported: galleries use the one pattern
from shared.scripts import Call, Lua

#: Dimensions of an SFace embedding.
EMBEDDING_DIM = 128
#: Bytes of one stored embedding (float32).
EMBEDDING_BYTES = EMBEDDING_DIM * 4
#: Changes each gallery's log keeps; a worker further behind rebuilds its index.
CHANGES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """One enrolled person: who, and where their reference face came from."""

    id: str
    name: str
    #: The gallery version that enrolled it, unique within the gallery: its id in the search index.
    n: int = 0
    created_ms: int = 0
    #: SHA-256 of the enrolment image.
    image: str = ""
    #: The enrolled face's box in that image (x, y, w, h).
    box: list[float] = field(default_factory=list)
    score: float = 0.0
    #: The enrol job.
    job: str = ""
    #: A small JPEG crop of the enrolled face, base64 (issue 23); kept in the record so it goes
    #: with it, left out of to_dict (job results, listings): served by its own endpoint.
    thumb: str = ""

    @classmethod
    def from_json(cls, raw: str | bytes) -> Identity:
        data: dict[str, Any] = json.loads(raw)
        # The thumbnail stays in Redis: workers' indexes hold every identity in memory.
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "thumb"})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["thumb"]
        return data


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a gallery's change log: ``+`` enrolled, ``-`` forgotten, ``*`` deleted."""

    version: int
    kind: str
    identity: str

    @classmethod
    def parse(cls, raw: str | bytes) -> Change:
        text = raw.decode() if isinstance(raw, bytes) else raw
        version, kind, identity = text.split(":", 2)
        return cls(int(version), kind, identity)


def _gallery_keys(gallery: str) -> list[str]:
    return [
        keys.GALLERIES,
        keys.GALLERY_VERSIONS,
        keys.gallery_identities_key(gallery),
        keys.gallery_embeddings_key(gallery),
        keys.gallery_order_key(gallery),
        keys.gallery_changes_key(gallery),
    ]


def enroll(gallery: str, identity: Identity, embedding: bytes) -> Call[tuple[Identity, bool]]:
    """Add an identity; returns its stored record and False when it was enrolled already."""
    if len(embedding) != EMBEDDING_BYTES:
        raise ValueError(f"embedding must be {EMBEDDING_BYTES} bytes, got {len(embedding)}")
    record = {k: v for k, v in identity.to_dict().items() if k not in ("id", "n", "created_ms")}
    if identity.thumb:
        record["thumb"] = identity.thumb

    def parse(raw: Any) -> tuple[Identity, bool]:
        return Identity.from_json(raw[0]), bool(raw[1])

    return Call(
        Lua.GALLERY_ENROLL,
        _gallery_keys(gallery),
        [gallery, identity.id, json.dumps(record), embedding, CHANGES_KEPT],
        parse,
    )


def forget(gallery: str, identity_id: str, *, who: str) -> Call[int]:
    """Remove one identity; returns the gallery's new version."""
    return Call(
        Lua.GALLERY_FORGET,
        [*_gallery_keys(gallery), keys.AUDIT_STREAM],
        [gallery, identity_id, CHANGES_KEPT, who],
        int,
    )


def rename(gallery: str, identity_id: str, name: str, *, who: str) -> Call[int]:
    """Give an identity a new name; returns the gallery's new version."""
    return Call(
        Lua.GALLERY_RENAME,
        [*_gallery_keys(gallery), keys.AUDIT_STREAM],
        [gallery, identity_id, name, CHANGES_KEPT, who],
        int,
    )


#: Most records a name search within a gallery reads (it scans: galleries have no name index).
NAME_SEARCH_BUDGET = 20_000


async def find_by_name(
    client: redis.asyncio.Redis, gallery: str, text: str, limit: int
) -> tuple[list[Identity], int]:
    """Identities whose name contains ``text`` (any case), oldest first; and how many were read."""
    await require(client, gallery)
    ids: list[str] = await client.zrangebylex(  # type: ignore[assignment]
        keys.gallery_order_key(gallery), "-", "+", start=0, num=NAME_SEARCH_BUDGET
    )
    needle, found = text.casefold(), []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        raws = await client.hmget(keys.gallery_identities_key(gallery), chunk)
        for raw in raws:
            if raw is not None and needle in json.loads(raw).get("name", "").casefold():
                found.append(Identity.from_json(raw))
                if len(found) >= limit:
                    return found, start + len(chunk)
    return found, len(ids)


async def thumbnail(client: redis.asyncio.Redis, gallery: str, identity_id: str) -> str:
    """An identity's thumbnail (base64 JPEG; '' when enrolled before thumbnails were kept)."""
    raw = await client.hget(keys.gallery_identities_key(gallery), identity_id)
    if raw is None:
        raise IdentityNotFound(f"gallery {gallery} holds no identity {identity_id}")
    return str(json.loads(raw).get("thumb", ""))


def drop(gallery: str, *, who: str) -> Call[int]:
    """Delete a gallery and every identity in it; returns how many there were."""
    return Call(Lua.GALLERY_DROP, [*_gallery_keys(gallery), keys.AUDIT_STREAM], [gallery, who], int)


@dataclass(frozen=True, slots=True)
class GallerySummary:
    name: str
    identities: int
    version: int


async def summaries(client: redis.asyncio.Redis) -> list[GallerySummary]:
    """Every gallery with its size and version, by name."""
    names: list[str] = sorted(await client.smembers(keys.GALLERIES))  # type: ignore[arg-type]
    if not names:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hlen(keys.gallery_identities_key(name))
        pipe.hmget(keys.GALLERY_VERSIONS, names)
        *sizes, versions = await pipe.execute()
    return [
        GallerySummary(name, int(size), int(version or 0))
        for name, size, version in zip(names, sizes, versions, strict=True)
    ]


async def require(client: redis.asyncio.Redis, gallery: str) -> None:
    """Raise GalleryNotFound unless the gallery exists."""
    if not await client.sismember(keys.GALLERIES, gallery):
        raise GalleryNotFound(f"no gallery named {gallery}")


async def identities_page(
    client: redis.asyncio.Redis, gallery: str, limit: int, cursor: str | None
) -> tuple[list[Identity], str | None]:
    """Identities oldest first, ``limit`` at a time after ``cursor`` (an identity id)."""
    await require(client, gallery)
    start = f"({cursor}" if cursor else "-"
    ids: list[str] = await client.zrangebylex(  # type: ignore[assignment]
        keys.gallery_order_key(gallery), start, "+", start=0, num=limit + 1
    )
    page, more = ids[:limit], len(ids) > limit
    raws = await client.hmget(keys.gallery_identities_key(gallery), page) if page else []
    found = [Identity.from_json(raw) for raw in raws if raw is not None]
    return found, (page[-1] if more and page else None)
