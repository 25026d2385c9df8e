"""S3: presigned forms and links, and the few object calls the recorder and deletion need.

The client is created on first use (boto3 is imported then, not at cold start). ClientErrors
leave this module as `ServiceUnavailable`, or as None where a missing object is an answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from exam_depository.config import StorageSettings, load
from exam_depository.errors import ServiceUnavailable

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from mypy_boto3_s3 import S3Client

_client: S3Client | None = None
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    content_type: str
    # None for an object over the limit: it is never hashed, only deleted.
    sha256: str | None


@dataclass(frozen=True)
class ListedObject:
    key: str
    size_bytes: int
    last_modified: datetime


def client() -> S3Client:
    global _client
    if _client is None:
        import boto3
        from botocore.config import Config

        settings = load(StorageSettings)
        # SigV4 and the regional endpoint: SigV2 or the global URL break presigned POSTs
        # outside us-east-1. A local endpoint on 127.0.0.1 needs path-style addressing.
        _client = boto3.client(
            "s3",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com",
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if settings.endpoint_url else "virtual"},
                retries={"mode": "standard", "max_attempts": 3},
                # The recorder computes the SHA-256 it records; botocore's own CRC of every body
                # read and sent would only cost CPU.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                # The recorder reads a batch's objects at once.
                max_pool_connections=10,
            ),
        )
    return _client


def upload_origin() -> str:
    """The origin browsers POST upload forms to (for the pages' Content-Security-Policy)."""
    settings = load(StorageSettings)
    if settings.endpoint_url:
        return settings.endpoint_url.rstrip("/")
    return f"https://{settings.bucket}.s3.{settings.region}.amazonaws.com"


def reset() -> None:
    global _client
    _client = None


def presign_upload(key: str, content_type: str, max_bytes: int, ttl_s: int) -> tuple[str, dict[str, str]]:
    """A POST form for exactly one key, one content type and 1..max_bytes bytes."""
    settings = load(StorageSettings)
    form: dict[str, Any] = client().generate_presigned_post(
        Bucket=settings.bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"bucket": settings.bucket},
            {"key": key},
            {"Content-Type": content_type},
            ["content-length-range", 1, max_bytes],
        ],
        ExpiresIn=ttl_s,
    )
    return str(form["url"]), {name: str(value) for name, value in form["fields"].items()}


def presign_download(key: str, content_disposition: str, content_type: str, ttl_s: int) -> str:
    settings = load(StorageSettings)
    return client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": settings.bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=ttl_s,
    )


def inspect(key: str, hash_up_to: int) -> StoredObject | None:
    """What S3 holds under `key` now, or None when nothing does, in one GET: its size and type,
    and its SHA-256 when it is at most `hash_up_to` bytes (from S3's own checksum when the
    uploader sent one, else by streaming the body once). A larger object's body is never read."""
    from botocore.exceptions import ClientError

    try:
        response = client().get_object(Bucket=load(StorageSettings).bucket, Key=key, ChecksumMode="ENABLED")
        body = response["Body"]
        try:
            size = response["ContentLength"]
            checksum = response.get("ChecksumSHA256")
            sha256: str | None = None  # over the limit: never read
            # A multipart upload's checksum is a checksum of checksums ("...-N"): not the file's SHA-256.
            if size <= hash_up_to and checksum and response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
                sha256 = _base64_to_hex(checksum)
            elif size <= hash_up_to:
                digest = hashlib.sha256()
                for chunk in body.iter_chunks(_CHUNK):
                    digest.update(chunk)
                sha256 = digest.hexdigest()
        finally:
            body.close()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise ServiceUnavailable(f"S3 GET failed: {exc}") from exc
    return StoredObject(
        size_bytes=size, content_type=response.get("ContentType", "application/octet-stream"), sha256=sha256
    )


def list_objects(prefix: str) -> Iterator[ListedObject]:
    """Every object under `prefix`, a page of 1,000 at a time."""
    from botocore.exceptions import ClientError

    pages = client().get_paginator("list_objects_v2").paginate(Bucket=load(StorageSettings).bucket, Prefix=prefix)
    try:
        for page in pages:
            for item in page.get("Contents", []):
                yield ListedObject(key=item["Key"], size_bytes=item["Size"], last_modified=item["LastModified"])
    except ClientError as exc:
        raise ServiceUnavailable(f"S3 ListObjectsV2 failed: {exc}") from exc


def delete(keys: list[str]) -> None:
    """Delete objects; a key already gone is not an error, any other failure raises."""
    from botocore.exceptions import ClientError

    bucket = load(StorageSettings).bucket
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = keys[start : start + 1000]
        try:
            response = client().delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        except ClientError as exc:
            raise ServiceUnavailable(f"S3 DeleteObjects failed: {exc}") from exc
        failed = response.get("Errors", [])
        if failed:
            raise ServiceUnavailable(f"S3 could not delete {len(failed)} object(s): {failed[0].get('Code')}")


def _missing(exc: ClientError) -> bool:
    """A missing object: NoSuchKey from a GET (a bare 404 or NotFound from other calls)."""
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _base64_to_hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()
