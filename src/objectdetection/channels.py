"""How the aggregator opens a channel to one detector replica."""

from __future__ import annotations

from collections.abc import Callable

import grpc


def channel_options(max_message_bytes: int) -> list[tuple[str, object]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # A restarted detector is used again within about a second, not after minutes of backoff.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # One channel per replica: never share a subchannel pool across replicas' channels.
        ("grpc.use_local_subchannel_pool", 1),
    ]


def channel_factory(
    max_message_bytes: int,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str = "",
) -> Callable[[str], grpc.Channel]:
    options = channel_options(max_message_bytes)
    if server_name:
        # Replicas are dialled by IP; verify their certificate against the Service's name.
        options.append(("grpc.ssl_target_name_override", server_name))

    def make(address: str) -> grpc.Channel:
        if credentials is None:
            return grpc.insecure_channel(address, options=options)
        return grpc.secure_channel(address, credentials, options=options)

    return make
