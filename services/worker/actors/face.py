"""The face actors: ``face_search`` (who is in this image?) and ``enroll`` (remember this face).

Bad input — an expired or damaged image, no face to enrol, an unknown gallery —
raises :class:`BadInput`, which Dramatiq's Retries does not retry: it is not a
transient fault, so the job fails at once with the reason as its error.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq

from services.worker.broker import FacequeueBroker
from services.worker.face.runtime import FaceRuntime
from services.worker.face.thumbs import thumbnail
from services.worker.progress import report_progress
from shared import galleries
from shared.catalog import CATALOG
from shared.errors import GalleryNotFound, InvalidArguments, InvalidImage
from shared.face_jobs import FACE_QUEUE, EnrollRequest, SearchRequest

#: Progress (percent) when each step of a face job ends.
STAGES = {"decoded": 25.0, "detected": 50.0, "embedded": 75.0}


class BadInput(Exception):
    """The job cannot succeed however often it runs."""


def _runtime() -> tuple[FacequeueBroker, FaceRuntime]:
    broker = dramatiq.get_broker()
    if not isinstance(broker, FacequeueBroker) or broker.ctx.face is None:
        raise RuntimeError("face actors run only in a facequeue worker consuming the face queue")
    return broker, broker.ctx.face


def _options(name: str) -> dict[str, Any]:
    return {
        "actor_name": name,
        "queue_name": CATALOG[name].queue,
        "throws": (BadInput,),
        **CATALOG[name].options,
    }


def _parse(parse: Any, raw: Any) -> Any:
    try:
        return parse(raw)
    except InvalidArguments as exc:
        raise BadInput(str(exc)) from None


@dramatiq.actor(
    actor_name="face_search", queue_name=FACE_QUEUE, throws=(BadInput,), **CATALOG["face_search"].options
)
def face_search(request: dict[str, Any]) -> dict[str, Any]:
    """Every face in the image, each with its best gallery matches above the threshold."""
    _, face = _runtime()
    req: SearchRequest = _parse(SearchRequest.from_arg, request)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def stage(name: str, percent: float) -> None:
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
        report_progress(percent, name)

    try:
        found = face.engine.find(
            lambda at_least: face.load_photo(req.image, at_least),
            stage=lambda name: stage(name, STAGES[name]),
        )
    except InvalidImage as exc:
        raise BadInput(str(exc)) from None
    faces, vectors = found.faces, found.vectors
    matches: list[list[Any]] = [[] for _ in faces]
    version = None
    if req.gallery is not None:
        try:
            index = face.indexes.get(req.gallery)
        except GalleryNotFound as exc:
            raise BadInput(str(exc)) from None
        with index.lock:
            matches = index.search(vectors, req.top_k, req.threshold)
            version = index.version
    stage("searched", 100)
    return {
        "width": found.photo.width,
        "height": found.photo.height,
        "gallery": req.gallery,
        "gallery_version": version,
        "faces": [
            {**f.to_dict(), "matches": [m.to_dict() for m in hits]}
            for f, hits in zip(faces, matches, strict=True)
        ],
        "timings_ms": timings,
    }


@dramatiq.actor(actor_name="enroll", queue_name=FACE_QUEUE, throws=(BadInput,), **CATALOG["enroll"].options)
def enroll(request: dict[str, Any]) -> dict[str, Any]:
    """Add the image's largest face to the gallery; the identity's id is this job's id."""
    broker, face = _runtime()
    req: EnrollRequest = _parse(EnrollRequest.from_arg, request)
    run = broker.ctx.runs.current()
    if run is None:
        raise RuntimeError("enroll runs only as a facequeue job")
    try:
        found = face.engine.find(
            lambda at_least: face.load_photo(req.image, at_least),
            largest_only=True,
            stage=lambda name: report_progress(STAGES[name], name),
        )
    except InvalidImage as exc:
        raise BadInput(str(exc)) from None
    if not found.faces:
        raise BadInput("no face found")
    largest, vector, photo = found.faces[0], found.vectors[0], found.photo
    identity = galleries.Identity(
        id=run.job_id,
        name=req.name,
        image=req.image,
        box=[round(v, 1) for v in largest.box],
        score=round(largest.score, 4),
        job=run.job_id,
        thumb=thumbnail(photo.bgr, [v / photo.scale for v in largest.box]),
    )
    stored, new = broker.ctx.registry.run(galleries.enroll(req.gallery, identity, vector.tobytes()))
    report_progress(100, "enrolled")
    return {"gallery": req.gallery, "identity": stored.to_dict(), "faces_found": len(found.faces), "new": new}
