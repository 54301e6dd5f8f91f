"""Channel options for clients that stream to the mesh for hours (robots, the camera gateway).

gRPC's default reconnect back-off grows to two minutes; a client must notice within a second
or two that the mesh is back. Keepalives find a dead peer behind a NAT or a vanished pod.
"""

from __future__ import annotations

FRAME_MESSAGE_BYTES = 16 * 1024 * 1024

STREAMING_CLIENT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.max_send_message_length", FRAME_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", FRAME_MESSAGE_BYTES),
)
