"""TLS, mutual TLS and bearer tokens for deployments without a service mesh.

Everything is read from files, so Kubernetes Secrets mounted as volumes configure it. With
Istio the sidecars encrypt and authenticate instead, and the services run plaintext inside the
pod (`ALLOW_PLAINTEXT`); without a mesh, plaintext is allowed only on loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterable
from pathlib import Path

import grpc

from liquidedge.interceptors import HandlerRewrite, refusing_handler

log = logging.getLogger(__name__)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
LEGACY_PREFIXES = ("/ObjectDetection/", "/FaceDetection/", "/YoloDetection/")
UNAUTHENTICATED_DETAILS = "missing or invalid bearer token (send 'authorization: Bearer <token>')"
# What the Kubernetes Secrets ship with (kube/base/*-tokens.yaml): programs refuse to start on
# it, so a deployment cannot run on a token that is public in the repository.
PLACEHOLDER_TOKEN = "replace-me"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read {what} {path!r}: {error.strerror}") from error


def server_credentials(cert_file: str, key_file: str, client_ca_file: str = "") -> grpc.ServerCredentials:
    """TLS for a listening port; with a client CA, clients must present a certificate it signed (mTLS)."""
    pair = (_read(key_file, "TLS key"), _read(cert_file, "TLS certificate"))
    client_ca = _read(client_ca_file, "client CA") if client_ca_file else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def channel_credentials(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> grpc.ChannelCredentials:
    """TLS for an outgoing channel: trust `ca_file` (system roots if empty), present a client cert if given."""
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate needs both its certificate and key files")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file, "CA") if ca_file else None,
        private_key=_read(key_file, "client key") if key_file else None,
        certificate_chain=_read(cert_file, "client certificate") if cert_file else None,
    )


def read_tokens(path: str) -> frozenset[str]:
    """One token per line; blank lines and `#` comments ignored. An empty file is an error."""
    lines = _read(path, "token file").decode("utf-8").splitlines()
    tokens = frozenset(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not tokens:
        raise ValueError(f"token file {path!r} holds no token")
    return tokens


def holds_placeholder(path: str) -> bool:
    """Whether a tokens file still holds the placeholder its Secret shipped with."""
    return any(token.startswith(PLACEHOLDER_TOKEN) for token in read_tokens(path))


def read_token(path: str) -> str:
    return sorted(read_tokens(path))[0]


def bearer_token(header: str | bytes) -> str | None:
    """The token of an `Authorization: Bearer <token>` value; None for another scheme."""
    text = header.decode() if isinstance(header, bytes) else header
    scheme, _, token = text.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def known_token(offered: str, tokens: Iterable[bytes]) -> bool:
    """Whether `offered` is one of `tokens`, compared with every one of them in constant time
    (no early exit that would tell a prober how many tokens it passed)."""
    given = offered.encode()
    matched = False
    for known in tokens:
        matched |= hmac.compare_digest(given, known)
    return matched


class BearerTokens:
    """Require `authorization: Bearer <token>` on every call except health checks (and legacy, if exempt).

    Kubelet's gRPC probes carry no token, so health stays open; the deployed robots' legacy
    protocol cannot send one, so by default it keeps its own user_id check instead. The rule is
    applied by either kind of server as a handler rewrite (`liquidedge.interceptors`).

    `guarded_prefixes`, when given, limits the rule to those methods: a second set of tokens
    for a few methods (the operators' tokens for the recognition service's `Gallery`), beside
    the robots' tokens for the rest.
    """

    def __init__(
        self,
        tokens: Iterable[str],
        exempt_prefixes: Iterable[str] = (HEALTH_PREFIX,),
        guarded_prefixes: Iterable[str] | None = None,
    ) -> None:
        self.tokens = tuple(t.encode() for t in tokens)
        self.exempt_prefixes = tuple(exempt_prefixes)
        self.guarded_prefixes = None if guarded_prefixes is None else tuple(guarded_prefixes)

    def allows(self, details: grpc.HandlerCallDetails) -> bool:
        method = details.method or ""
        if method.startswith(self.exempt_prefixes):
            return True
        if self.guarded_prefixes is not None and not method.startswith(self.guarded_prefixes):
            return True
        for key, value in details.invocation_metadata or ():
            if key.lower() != "authorization":
                continue
            token = bearer_token(value)
            if token is not None:
                return known_token(token, self.tokens)
        return False

    def rewrite(self, *, aio: bool) -> HandlerRewrite:
        """The rule for a thread-pool (`aio=False`) or a `grpc.aio` server: refuse, or let through."""

        def check(handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            if self.allows(details):
                return handler
            log.info("unauthenticated call refused", extra={"method": details.method})
            return refusing_handler(
                handler, grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_DETAILS, aio=aio
            )

        return check
