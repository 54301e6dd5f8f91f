"""Why an upload was refused, with the HTTP status that says so to the uploader."""

from __future__ import annotations


class UploadRejected(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(UploadRejected):
    """The request itself is wrong (missing edgeId, not a zip archive, corrupt archive)."""

    status = 400


class LengthRequired(UploadRejected):
    status = 411


class Unauthorized(UploadRejected):
    status = 401


class TooLarge(UploadRejected):
    """Over a size limit: the upload, one image, the uncompressed total, a compression ratio."""

    status = 413


class BadContent(UploadRejected):
    """A well-formed archive whose content breaks the rules (paths, labels, non-images)."""

    status = 422


class Busy(UploadRejected):
    status = 429
