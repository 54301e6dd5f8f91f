"""A legacy robot client written only from DESIGN.md's wire table: no generated code at all.

It hand-encodes protobuf (varints, length-delimited fields, fixed32) and calls the method by
its full name, the way a robot built against the original protocol does.
"""

from __future__ import annotations

import ipaddress
import struct

import grpc

from liquidedge.hostinfo import HostInfo
from liquidedge.service import ServiceHandle


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 are sent as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def parse(data: bytes) -> dict[int, list[object]]:
    fields: dict[int, list[object]] = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def test_raw_legacy_client_gets_the_face_with_timestamp_and_host(
    aggregator_service: ServiceHandle, astronaut_jpeg: bytes
) -> None:
    timestamp = 1_732_000_000_123_456
    video_frame = field_varint(1, 17) + field_varint(2, timestamp) + field_bytes(3, astronaut_jpeg)
    request = field_varint(1, 1) + field_bytes(2, video_frame) + field_varint(3, 1) + field_varint(4, 1)
    with grpc.insecure_channel(f"127.0.0.1:{aggregator_service.port}") as channel:
        call = channel.unary_unary("/ObjectDetection/ObjectDetect")  # raw bytes in, raw bytes out
        raw = call(request, timeout=20)
    reply = parse(raw)
    assert reply[1] == [17] and reply[2] == [timestamp]
    objects = [parse(obj) for obj in reply.get(3, [])]
    faces = [o for o in objects if o[1] == [b"face"]]
    assert len(faces) == 1
    face = faces[0]
    assert face.get(2, [0]) == [0]  # eng FACE = 0 (proto3 omits the default)
    confidence = struct.unpack("<f", face[3][0])[0]
    assert 0.5 < confidence <= 1.0
    x, y, w, h = (face[n][0] for n in (4, 5, 6, 7))
    assert 200 < x < 240 and 30 < y < 70 and 100 < w < 140 and 100 < h < 140
    assert all(0 <= face.get(n, [0])[0] <= 255 for n in (8, 9, 10))
    ipv4 = struct.unpack("<I", reply[4][0])[0]  # fixed32 is little-endian on the wire
    here = HostInfo.detect()  # the aggregator runs in this process: it names this host
    assert str(ipaddress.IPv4Address(ipv4)) == here.address != "0.0.0.0"
    assert reply[5][0].decode() == here.hostname
