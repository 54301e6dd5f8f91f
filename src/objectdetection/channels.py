"""How the aggregator opens its one `grpc.aio` channel to a detector replica.

The same channel carries the replica's detection calls and its health probes, so the two
never disagree about whether the replica is reachable.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc


def channel_options(max_message_bytes: int, server_name: str = "") -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
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
    if server_name:
        # Replicas are dialled by IP; verify their certificate against the Service's name.
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def channel_factory(
    max_message_bytes: int,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str = "",
) -> Callable[[str], grpc.aio.Channel]:
    """Opens a channel to one replica's address. Call it on the event loop the calls will run on."""
    options = channel_options(max_message_bytes, server_name)

    def make(address: str) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, credentials, options=options)

    return make
