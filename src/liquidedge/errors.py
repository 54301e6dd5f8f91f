"""Errors a client can cause, named by what went wrong rather than by transport.

Engines and decoders raise these; servicers map them to gRPC status codes in one place
(`liquidedge.status`), so a client's mistake is never reported as UNKNOWN.
"""


class ClientError(ValueError):
    """The request itself is wrong; retrying it unchanged will fail again."""


class BadImageError(ClientError):
    """The frame is not a decodable JPEG (maps to INVALID_ARGUMENT)."""


class FrameTooLargeError(ClientError):
    """The frame is over the byte or pixel limit (maps to RESOURCE_EXHAUSTED)."""


class BadRequestError(ClientError):
    """A request field is out of range or names something unknown (maps to INVALID_ARGUMENT)."""


class UnknownUserError(ClientError):
    """A legacy request with a user_id outside the allowed set (maps to NOT_FOUND)."""


class OverloadedError(RuntimeError):
    """The server has no room for more work right now (maps to RESOURCE_EXHAUSTED)."""


class DeadlineExpiredError(TimeoutError):
    """The frame's deadline passed before the engine got to it (maps to DEADLINE_EXCEEDED)."""


class EngineUnavailableError(RuntimeError):
    """The engine is not loaded yet or is shutting down (maps to UNAVAILABLE)."""
