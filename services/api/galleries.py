"""``/api/v1/galleries``: enrol identities (as tracked jobs), list, page and delete them."""

from __future__ import annotations

import base64
import hashlib

from aiohttp import web

from services.api import uploads, validation
from services.api.auth import acting
from services.api.errors import ApiError
from services.api.jobs import job_json
from services.api.models import (
    EnrollForm,
    EnrollIdentity,
    GalleryList,
    GalleryOut,
    GalleryRemoval,
    IdentityList,
    IdentityOut,
    IdentityQuery,
    IdentityRemoval,
    IdentityRename,
    IdentityRenamed,
    JobOut,
)
from services.api.openapi import Route
from services.api.state import REGISTRY, record
from shared import galleries
from shared.face_jobs import EnrollRequest
from shared.http import SETTINGS
from shared.names import NAME_PATTERN, is_valid_name
from shared.submit import submit_async


def _gallery(request: web.Request) -> str:
    name = request.match_info["gallery"]
    if not is_valid_name(name):
        raise ApiError(404, "gallery_not_found", f"gallery names match {NAME_PATTERN}")
    return name


async def enroll_identity(request: web.Request) -> web.Response:
    """201 with the ``enroll`` job; the identity exists once the job completes (its id is the job's)."""
    gallery = _gallery(request)
    if uploads.is_multipart(request):
        form = await uploads.read_form(request, EnrollForm)
        name, data, priority = form.name, form.image, form.priority
    else:
        settings = request.app[SETTINGS]
        body = validation.validate(
            await validation.json_data(request, uploads.json_limit(settings)), EnrollIdentity
        )
        name, data, priority = body.name, uploads.decode_base64(body.image, settings), body.priority
    if not name.strip():
        raise ApiError(422, "validation_error", "name: must not be blank")
    info = await uploads.store(request, data)
    registry = request.app[REGISTRY]
    request_arg = EnrollRequest(info.sha256, gallery, name.strip()).to_arg()
    job_id = await submit_async(registry, "enroll", [request_arg], priority=priority)
    return job_json(await registry.get(job_id), status=201)


async def list_galleries(request: web.Request) -> web.Response:
    found = await galleries.summaries(request.app[REGISTRY].client)
    out = GalleryList(
        galleries=[GalleryOut(name=g.name, identities=g.identities, version=g.version) for g in found]
    )
    return web.json_response(out.model_dump())


async def list_identities(request: web.Request) -> web.Response:
    """Oldest first, cursor-paged by identity id; or those whose name contains ``q``."""
    params = validation.query(request, IdentityQuery)
    client, gallery = request.app[REGISTRY].client, _gallery(request)
    scanned = None
    if params.q:
        page, scanned = await galleries.find_by_name(client, gallery, params.q, params.limit)
        cursor = None
    else:
        page, cursor = await galleries.identities_page(client, gallery, params.limit, params.cursor)
    out = IdentityList(
        identities=[IdentityOut.model_validate(i.to_dict()) for i in page],
        next_cursor=cursor,
        scanned=scanned,
    )
    return web.json_response(out.model_dump())


async def rename_identity(request: web.Request) -> web.Response:
    gallery, identity = _gallery(request), request.match_info["identity"]
    body = await validation.body(request, IdentityRename)
    name = body.name.strip()
    if not name:
        raise ApiError(422, "validation_error", "name: must not be blank")
    version = await request.app[REGISTRY].run(galleries.rename(gallery, identity, name, who=acting(request)))
    record(request, "rename_identity", 1)
    return web.json_response(
        IdentityRenamed(gallery=gallery, identity=identity, name=name, version=version).model_dump()
    )


#: Thumbnails never change (an identity's face is fixed): browsers may keep them a day.
THUMB_CACHE = "private, max-age=86400"


async def identity_thumbnail(request: web.Request) -> web.StreamResponse:
    """The enrolled face's JPEG crop; 404 for identities enrolled before thumbnails were kept."""
    gallery, identity = _gallery(request), request.match_info["identity"]
    encoded = await galleries.thumbnail(request.app[REGISTRY].client, gallery, identity)
    if not encoded:
        raise ApiError(404, "thumbnail_not_found", f"identity {identity} has no thumbnail")
    data = base64.b64decode(encoded)
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"Cache-Control": THUMB_CACHE, "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type="image/jpeg", headers=headers)


async def forget_identity(request: web.Request) -> web.Response:
    gallery, identity = _gallery(request), request.match_info["identity"]
    who = acting(request)
    version = await request.app[REGISTRY].run(galleries.forget(gallery, identity, who=who))
    record(request, "forget_identity", 1)
    return web.json_response(
        IdentityRemoval(gallery=gallery, identity=identity, version=version).model_dump()
    )


async def delete_gallery(request: web.Request) -> web.Response:
    gallery = _gallery(request)
    removed = await request.app[REGISTRY].run(galleries.drop(gallery, who=acting(request)))
    record(request, "delete_gallery", 1)
    return web.json_response(GalleryRemoval(gallery=gallery, removed=removed).model_dump())


ROUTES = [
    Route(
        "PATCH",
        "/api/v1/galleries/{gallery}/identities/{identity}",
        rename_identity,
        "Rename an identity",
        body=IdentityRename,
        response=IdentityRenamed,
        errors=(400, 403, 404, 415, 422),
    ),
    Route(
        "GET",
        "/api/v1/galleries/{gallery}/identities/{identity}/thumbnail",
        identity_thumbnail,
        "The enrolled face's thumbnail (JPEG; cached by ETag)",
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/v1/galleries/{gallery}/identities",
        enroll_identity,
        "Enrol a face (JSON or multipart upload) as a tracked enroll job; creates the gallery",
        body=EnrollIdentity,
        form=EnrollForm,
        response=JobOut,
        status=201,
        errors=(400, 403, 404, 413, 415, 422),
    ),
    Route(
        "GET",
        "/api/v1/galleries",
        list_galleries,
        "List galleries",
        response=GalleryList,
        scoped=True,  # galleries belong to no queue
    ),
    Route(
        "GET",
        "/api/v1/galleries/{gallery}/identities",
        list_identities,
        "List a gallery's identities, oldest first",
        query=IdentityQuery,
        response=IdentityList,
        errors=(400, 404),
    ),
    Route(
        "DELETE",
        "/api/v1/galleries/{gallery}/identities/{identity}",
        forget_identity,
        "Remove one identity from a gallery",
        response=IdentityRemoval,
        errors=(403, 404),
    ),
    Route(
        "DELETE",
        "/api/v1/galleries/{gallery}",
        delete_gallery,
        "Delete a gallery and all its identities",
        response=GalleryRemoval,
        errors=(403, 404),
    ),
]
