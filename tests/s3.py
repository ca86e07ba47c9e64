"""A real S3-compatible server for the object-storage tests: moto in server mode, started once
per test run on a free port of this machine (HTTP, path-style, like MinIO), never a mock object.

`s3_env(bucket)` is the environment that points huzhu at one bucket of it (HUZHU_S3_*), for
this process's settings and for the `huzhu` processes a test starts."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ACCESS_KEY = "huzhu-test"
SECRET_KEY = "huzhu-test-secret"
REGION = "cn-north-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        "HUZHU_S3_BUCKET": bucket,
        "HUZHU_S3_ENDPOINT": endpoint,
        "HUZHU_S3_REGION": REGION,
        "HUZHU_S3_ACCESS_KEY": ACCESS_KEY,
        "HUZHU_S3_SECRET_KEY": SECRET_KEY,
        "HUZHU_S3_PREFIX": "huzhu",
    }


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> dict[str, str]:
    """A new, empty bucket; the HUZHU_S3_* environment that names it."""
    bucket = f"huzhu-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return s3_env(s3_endpoint, bucket)


def s3_objects(env: dict[str, str]) -> dict[str, bytes]:
    """Every object in the bucket, by key."""
    client = s3_client(env["HUZHU_S3_ENDPOINT"])
    listed = client.list_objects_v2(Bucket=env["HUZHU_S3_BUCKET"]).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=env["HUZHU_S3_BUCKET"], Key=o["Key"])["Body"].read()
        for o in listed
    }


@pytest.fixture
def s3_storage(s3_bucket: dict[str, str], settings: Any, monkeypatch: Any) -> dict[str, str]:
    """This test's default storage is the bucket (as HUZHU_S3_BUCKET would make it)."""
    from huzhu.core.config import default_storage_setting

    for name, value in s3_bucket.items():
        monkeypatch.setenv(name, value)
    settings.STORAGES = {**settings.STORAGES, "default": default_storage_setting()}
    return s3_bucket
