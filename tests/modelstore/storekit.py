"""Helpers for the model store tests: a store plus raw access to its objects, an S3 client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelstore.store import ModelStore

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test-access-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class StoreUnderTest:
    """A store plus raw access to its objects, to corrupt them the way a bad disk or bucket would."""

    store: ModelStore
    url: str
    raw: Any

    def overwrite(self, key: str, data: bytes) -> None:
        if isinstance(self.raw, Path):
            (self.raw / key).write_bytes(data)
        else:
            client, bucket = self.raw
            client.put_object(Bucket=bucket, Key=key, Body=data)

    def read(self, key: str) -> bytes:
        return self.store.backend.read(key)

    def delete(self, key: str) -> None:
        if isinstance(self.raw, Path):
            (self.raw / key).unlink()
        else:
            client, bucket = self.raw
            client.delete_object(Bucket=bucket, Key=key)


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def new_bucket(endpoint: str) -> str:
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket
