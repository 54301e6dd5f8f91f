"""The v1 `Gallery` service: enrol, forget and list people over gRPC (messages only).

The work is `GalleryEditor`'s; this maps messages and says what went wrong as a status code
an operator can act on. Tokens are checked before a call gets here (the operators' tokens,
not the robots'); without an operator tokens file the service refuses every change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from facerecognition.editing import GalleryEditor, PhotoTooLargeError
from facerecognition.enrolment import (
    FaceTooSmallError,
    MultipleFacesError,
    NoFaceError,
    Photo,
    UnreadablePhotoError,
)
from facerecognition.gallery import Gallery, GalleryError, InvalidNameError
from liquidedge.metrics import ServiceMetrics
from liquidedge.status import StatusTable, status_for
from liquidedge.v1 import gallery_pb2, gallery_pb2_grpc
from modelstore import ConflictError, ModelStoreError

log = logging.getLogger(__name__)

GALLERY_SERVICE = gallery_pb2.DESCRIPTOR.services_by_name["Gallery"].full_name
GALLERY_PREFIX = f"/{GALLERY_SERVICE}/"

T = TypeVar("T")

# What went wrong -> the code an operator sees (the first match wins: subclasses first).
_CODES: StatusTable = (
    (NoFaceError, grpc.StatusCode.FAILED_PRECONDITION),
    (MultipleFacesError, grpc.StatusCode.FAILED_PRECONDITION),
    (FaceTooSmallError, grpc.StatusCode.FAILED_PRECONDITION),
    (UnreadablePhotoError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidNameError, grpc.StatusCode.INVALID_ARGUMENT),
    (PhotoTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (KeyError, grpc.StatusCode.NOT_FOUND),
    (ConflictError, grpc.StatusCode.ABORTED),
    (GalleryError, grpc.StatusCode.FAILED_PRECONDITION),  # the published version itself is unusable
    (ModelStoreError, grpc.StatusCode.UNAVAILABLE),
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT),
)


def version_message(gallery: Gallery | None, editor: GalleryEditor) -> gallery_pb2.GalleryVersion:
    place = editor.place
    message = gallery_pb2.GalleryVersion(
        store_name=place.name, channel=place.channel, model_id=editor.model_id
    )
    if gallery is not None:
        message.version = gallery.version
        message.parent = gallery.parent or ""
        message.people.extend(
            gallery_pb2.Person(name=name, photos=gallery.names.count(name)) for name in gallery.people
        )
    return message


@dataclass(eq=False)
class GalleryServicer(gallery_pb2_grpc.GalleryServicer):
    """Its editor is attached once the models are loaded; calls before that get UNAVAILABLE."""

    metrics: ServiceMetrics
    # Whether operator tokens are configured; without them no change is taken from anyone.
    enabled: bool
    editor: GalleryEditor | None = field(default=None)

    def attach(self, editor: GalleryEditor) -> None:
        self.editor = editor

    def _run(self, method: str, context: grpc.ServicerContext, work: Callable[[GalleryEditor], T]) -> T:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            if not self.enabled:
                code = grpc.StatusCode.PERMISSION_DENIED
                context.abort(
                    code,
                    "run-time gallery changes are off: start the recognition service with "
                    "--operator-tokens-file (OPERATOR_TOKENS_FILE) and call with an operator token",
                )
            if self.editor is None:
                code = grpc.StatusCode.UNAVAILABLE
                context.abort(code, "the recognition models are still loading")
            try:
                return work(self.editor)
            except Exception as error:
                code = status_for(error, _CODES)
                detail = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
                if code == grpc.StatusCode.INTERNAL:
                    log.exception("gallery %s failed", method)
                else:
                    log.info("gallery %s refused", method, extra={"code": code.name, "reason": detail})
                context.abort(code, detail)
        finally:
            self.metrics.count_request(method, code.name, time.perf_counter() - started)

    def Enroll(
        self, request: gallery_pb2.EnrollRequest, context: grpc.ServicerContext
    ) -> gallery_pb2.GalleryVersion:
        photos = [Photo(p.filename or f"photo {i + 1}", p.data) for i, p in enumerate(request.photos)]

        def enroll(editor: GalleryEditor) -> gallery_pb2.GalleryVersion:
            return version_message(editor.enroll(request.name, photos, replace=request.replace), editor)

        return self._run("Enroll", context, enroll)

    def Forget(
        self, request: gallery_pb2.ForgetRequest, context: grpc.ServicerContext
    ) -> gallery_pb2.GalleryVersion:
        return self._run("Forget", context, lambda e: version_message(e.forget(request.name), e))

    def ListPeople(
        self, request: gallery_pb2.ListPeopleRequest, context: grpc.ServicerContext
    ) -> gallery_pb2.GalleryVersion:
        return self._run("ListPeople", context, lambda e: version_message(e.current(), e))
