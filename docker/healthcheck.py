"""Container health signal: ask the program's own grpc.health.v1 service, exit 0 when SERVING
(or, with --http-path, the HTTP readiness path of a program that serves HTTP: exit 0 on 200).

Docker's HEALTHCHECK runs this inside the container (Kubernetes uses its native gRPC probes
instead, see kube/). It talks to the port in $PORT (the program's own environment twin of
--port) or --port, on loopback, so it reports exactly what a load balancer would be told.
Exit codes: 0 SERVING, 1 anything else (NOT_SERVING, unknown service, unreachable).
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str, timeout_s: float) -> tuple[bool, str]:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as error:
            return False, f"{error.code().name}: {error.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def check_http(address: str, path: str, timeout_s: float) -> tuple[bool, str]:
    """For the programs that serve HTTP (the camera gateway): healthy on 200 from `path`."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout_s) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except OSError as error:
        return False, f"UNAVAILABLE: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True, help="gRPC port when $PORT is not set")
    parser.add_argument("--service", default="", help="health service name ('' = the whole server)")
    parser.add_argument("--http-path", default="", help="ask this HTTP path instead of grpc.health.v1")
    parser.add_argument("--timeout-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    port = int(os.environ.get("PORT") or args.port)
    if args.http_path:
        ok, status = check_http(f"127.0.0.1:{port}", args.http_path, args.timeout_s)
        print(f"{args.http_path} on port {port}: {status}")
        return 0 if ok else 1
    ok, status = check(f"127.0.0.1:{port}", args.service, args.timeout_s)
    print(f"{args.service or '<server>'} on port {port}: {status}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
