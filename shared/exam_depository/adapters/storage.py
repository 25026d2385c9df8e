"""S3: presigned forms and links, and the object calls the recorder, deletion and the jobs need.

The bucket is versioned: posting a form again makes a new version of its key, so every read,
link and delete here names a version. A delete without a version would only add a delete marker
and keep the bytes.

The client comes from `aws.client` (created on first use). S3's errors and network failures
(ClientError, BotoCoreError) leave this module as `ServiceUnavailable`, or as None where a
missing object is an answer, or as `Threat` where the bucket refuses a version tagged as
malware. The S3 event notifications the recorder receives are read here too (`objects_created`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import unquote_plus

from exam_depository.adapters import aws
from exam_depository.config import StorageSettings, load
from exam_depository.domain.errors import ServiceUnavailable, Threat

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from exam_depository.adapters.objects import ObjectVersion, StoredObject, StoredPaper
    from exam_depository.domain.recording import ObjectCreated
    from exam_depository.domain.scans import ScanStatus

_CHUNK = 1024 * 1024
# What S3 calls the version of an object written while the bucket was not versioned.
NULL_VERSION = "null"


def client() -> S3Client:
    settings = load(StorageSettings)
    # SigV4 and the regional endpoint: SigV2 or the global URL break presigned POSTs
    # outside us-east-1. An emulator's endpoint (AWS_ENDPOINT_URL_S3) needs path-style URLs.
    s3: S3Client = aws.client(
        "s3",
        region=settings.region,
        endpoint_url=settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com",
        read_timeout=10,
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.endpoint_url else "virtual"},
        # The recorder computes the SHA-256 it records: botocore computes a checksum of a
        # body only where the request asks for one (the recorder's GET asks for S3's).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # The recorder reads a batch's objects at once.
        max_pool_connections=10,
    )
    return s3


def upload_origin() -> str:
    """The origin browsers POST upload forms to (for the pages' Content-Security-Policy)."""
    settings = load(StorageSettings)
    if settings.endpoint_url:
        return settings.endpoint_url.rstrip("/")
    return f"https://{settings.bucket}.s3.{settings.region}.amazonaws.com"


def _failure(call: str, exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable(f"S3 {call} failed: {exc}", service="S3")


def presign_upload(
    key: str,
    *,
    content_type: str,
    content_disposition: str,
    max_bytes: int,
    expires_at: datetime,
    sha256: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A POST form for exactly one key and 1..max_bytes bytes, that S3 refuses after `expires_at`
    (whole seconds: the policy's expiry is truncated to the second). The type and disposition
    S3 stores with the object, and serves on every GET, are pinned too; and with `sha256` (hex),
    the file's checksum: S3 refuses any other bytes, and keeps the checksum for the recorder."""
    settings = load(StorageSettings)
    expires_in = int((expires_at - datetime.now(UTC)).total_seconds())
    fields = {"Content-Type": content_type, "Content-Disposition": content_disposition}
    if sha256 is not None:
        fields |= {
            "x-amz-checksum-algorithm": "SHA256",
            "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(sha256)).decode(),
        }
    form: dict[str, Any] = client().generate_presigned_post(
        Bucket=settings.bucket,
        Key=key,
        Fields=fields,
        Conditions=[
            {"bucket": settings.bucket},
            {"key": key},
            *({name: value} for name, value in fields.items()),
            ["content-length-range", 1, max_bytes],
        ],
        ExpiresIn=expires_in,
    )
    return str(form["url"]), {name: str(value) for name, value in form["fields"].items()}


def presign_download(key: str, version_id: str, content_disposition: str, content_type: str, ttl_s: int) -> str:
    """A link to exactly one version of an object: a form posted again cannot change what it serves.
    The object carries its type and disposition since its form pinned them; the link says them
    again for objects stored before forms did."""
    settings = load(StorageSettings)
    return client().generate_presigned_url(
        "get_object",
        Params={
            "Bucket": settings.bucket,
            "Key": key,
            "VersionId": version_id,
            "ResponseContentDisposition": content_disposition,
            "ResponseContentType": content_type,
        },
        ExpiresIn=ttl_s,
    )


# The first bytes the recorder identifies a file by (domain.content_types.TYPE_PREFIX_BYTES, which
# this module does not load: only a form that restricts its types does).
TYPE_PREFIX_BYTES = 8192


def inspect(
    key: str,
    version_id: str,
    hash_up_to: int,
    *,
    checksum_pinned: bool,
    read: Literal["size", "start", "whole"] = "size",
) -> StoredObject | None:
    """What S3 holds as this version of `key`, or None when it holds nothing: its size, its
    SHA-256 when it is 1..`hash_up_to` bytes, and as `read` asks, its first bytes (`start`: the
    form restricts its types) or all of them (`whole`: its PDFs are checked).

    Where the form pinned a checksum (`checksum_pinned`), S3 checked the bytes against it and
    keeps it: one HEAD reads it and the body is never read, but for a ranged GET of the first
    bytes where they are asked for (no range is trusted for the checksum: S3 promises no
    full-object checksum of a range). Otherwise, and where the whole is asked for, one GET asks
    for S3's checksum too: its headers say the size (an empty or too large object's body is
    closed unread) and any full-object SHA-256 S3 holds; only without one is the body streamed
    and hashed, once, its first bytes kept as they pass."""
    # Here, not at the top: see adapters.objects (the recorder loaded it at init).
    from dataclasses import replace

    from exam_depository.adapters.objects import StoredObject

    bucket = load(StorageSettings).bucket
    try:
        if checksum_pinned and read != "whole":
            head = client().head_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
            size = head["ContentLength"]
            found = _known_from_headers(size, head.get("ChecksumSHA256"), head.get("ChecksumType"), hash_up_to)
            if found is not None:
                if read == "start" and found.sha256 is not None:
                    first = client().get_object(
                        Bucket=bucket, Key=key, VersionId=version_id, Range=f"bytes=0-{TYPE_PREFIX_BYTES - 1}"
                    )["Body"]
                    with closing(first):
                        return replace(found, first_bytes=first.read())
                return found
            # Only a stand-in that ignored the form's checksum fields holds none: hash the body.
            body = client().get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"]
        else:
            got = client().get_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
            size, body = got["ContentLength"], got["Body"]
            try:
                found = _known_from_headers(size, got.get("ChecksumSHA256"), got.get("ChecksumType"), hash_up_to)
            except ValueError:  # a malformed checksum header (an emulator's): the body is not left open
                body.close()
                raise
            if found is not None and (read == "size" or found.sha256 is None):
                body.close()  # never read: closing drops the connection rather than drain the bytes
                return found
            if found is not None:  # S3 holds the checksum: only the bytes asked for are read
                with closing(body):
                    data = body.read(TYPE_PREFIX_BYTES) if read == "start" else body.read()
                return replace(found, first_bytes=data[:TYPE_PREFIX_BYTES], content=data if read == "whole" else None)
        digest, kept = hashlib.sha256(), bytearray()
        keep = 0 if read == "size" else TYPE_PREFIX_BYTES if read == "start" else hash_up_to
        try:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                if len(kept) < keep:
                    kept += chunk[: keep - len(kept)]
        finally:
            body.close()
    except aws.failures() as exc:
        if _missing(exc):
            return None
        raise _failure("HEAD/GET" if checksum_pinned else "GET", exc) from exc
    return StoredObject(
        size_bytes=size,
        sha256=digest.hexdigest(),
        first_bytes=bytes(kept[:TYPE_PREFIX_BYTES]) if read != "size" else None,
        content=bytes(kept) if read == "whole" else None,
    )


def read_tail(key: str, version_id: str, n: int) -> bytes | None:
    """The last `n` bytes of one version (all of a smaller one), or None when S3 holds nothing:
    a ZIP's central directory, which names its entries."""
    return _read_range(key, version_id, f"bytes=-{n}")


def read_range(key: str, version_id: str, start: int, length: int) -> bytes | None:
    """`length` bytes of one version from `start` (fewer at its end), or None when S3 holds
    nothing: one entry of a ZIP, where its central directory places it."""
    return _read_range(key, version_id, f"bytes={start}-{start + length - 1}")


def _read_range(key: str, version_id: str, byte_range: str) -> bytes | None:
    try:
        body = client().get_object(
            Bucket=load(StorageSettings).bucket, Key=key, VersionId=version_id, Range=byte_range
        )["Body"]
        with closing(body):
            return body.read()
    except aws.failures() as exc:
        if _missing(exc):
            return None
        raise _failure("GET", exc) from exc


def _known_from_headers(
    size: int, checksum: str | None, checksum_type: str | None, hash_up_to: int
) -> StoredObject | None:
    """What an object's headers alone tell, or None when its body must be hashed."""
    from exam_depository.adapters.objects import StoredObject

    if not 0 < size <= hash_up_to:  # empty or over the limit: never read
        return StoredObject(size_bytes=size, sha256=None)
    # A multipart upload's checksum is a checksum of checksums ("...-N"): not the file's SHA-256.
    if checksum and (checksum_type or "FULL_OBJECT") == "FULL_OBJECT":
        return StoredObject(size_bytes=size, sha256=_base64_to_hex(checksum), checked_by_s3=True)
    return None


def inspect_paper(key: str, version_id: str, max_bytes: int, *, checksum_pinned: bool) -> StoredPaper | None:
    """What S3 holds as this version of a question paper, or None when it holds nothing, from one
    GET: its size (an empty or too large object's body is closed unread), its SHA-256 (S3's, which
    it checked against the form's, where the form pinned one; else the body streamed and hashed),
    and whether it starts as a PDF (its first bytes, read in any case)."""
    from exam_depository.adapters.objects import StoredPaper
    from exam_depository.domain.papers import PDF_HEADER_WITHIN, starts_as_pdf

    bucket = load(StorageSettings).bucket
    try:
        got = client().get_object(Bucket=bucket, Key=key, VersionId=version_id, ChecksumMode="ENABLED")
        size, body = got["ContentLength"], got["Body"]
        try:
            known = (
                _known_from_headers(size, got.get("ChecksumSHA256"), got.get("ChecksumType"), max_bytes)
                if checksum_pinned
                else None
            )
            if not 0 < size <= max_bytes:
                return StoredPaper(size_bytes=size, sha256=None, starts_as_pdf=False)
            if known is not None:  # S3 checked the bytes: only their start is read
                return StoredPaper(size, known.sha256, starts_as_pdf(body.read(PDF_HEADER_WITHIN)))
            digest, first = hashlib.sha256(), b""
            for chunk in body.iter_chunks(_CHUNK):
                if len(first) < PDF_HEADER_WITHIN:
                    first += chunk[: PDF_HEADER_WITHIN - len(first)]
                digest.update(chunk)
        finally:
            body.close()  # a body not read to its end is dropped with its connection, not drained
    except aws.failures() as exc:
        if _missing(exc):
            return None
        raise _failure("GET", exc) from exc
    return StoredPaper(size_bytes=size, sha256=digest.hexdigest(), starts_as_pdf=starts_as_pdf(first))


def list_versions(prefix: str) -> Iterator[ObjectVersion]:
    """Every version and delete marker under `prefix`, a page of 1,000 at a time."""
    from exam_depository.adapters.objects import ObjectVersion

    pages = client().get_paginator("list_object_versions").paginate(Bucket=load(StorageSettings).bucket, Prefix=prefix)
    try:
        for page in pages:
            for item in page.get("Versions", []):
                yield ObjectVersion(item["Key"], item["VersionId"], item["Size"], item["LastModified"])
            for marker in page.get("DeleteMarkers", []):
                yield ObjectVersion(marker["Key"], marker["VersionId"], 0, marker["LastModified"], delete_marker=True)
    except aws.failures() as exc:
        raise _failure("ListObjectVersions", exc) from exc


def delete_versions(versions: list[tuple[str, str]]) -> int:
    """Delete exactly these (key, version) pairs for good; a version already gone is not an error,
    any other failure raises. Returns how many S3 confirmed."""
    bucket = load(StorageSettings).bucket
    confirmed = 0
    unique = sorted(set(versions))
    for start in range(0, len(unique), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = unique[start : start + 1000]
        try:
            response = client().delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key, "VersionId": version} for key, version in batch], "Quiet": False},
            )
        except aws.failures() as exc:
            raise _failure("DeleteObjects", exc) from exc
        failed = response.get("Errors", [])
        if failed:
            raise ServiceUnavailable(
                f"S3 could not delete {len(failed)} object(s): {failed[0].get('Code')}", service="S3"
            )
        confirmed += len(response.get("Deleted", []))
    return confirmed


def delete_everything_under(prefixes: list[str]) -> int:
    """Delete every version and delete marker under each prefix (a student's or an exam's keys),
    listing the prefixes at once; returns how many were deleted."""
    if not prefixes:
        return 0

    def versions_under(prefix: str) -> list[tuple[str, str]]:
        return [(v.key, v.version_id) for v in list_versions(prefix)]

    if len(prefixes) == 1:  # an exam's own prefix, most often: no pool to start
        return delete_versions(versions_under(prefixes[0]))
    with ThreadPoolExecutor(max_workers=min(10, len(prefixes))) as pool:
        found = [pair for pairs in pool.map(versions_under, prefixes) for pair in pairs]
    return delete_versions(found)


def _missing(exc: Exception) -> bool:
    """A missing object or version: NoSuchKey/NoSuchVersion from a GET (404 from other calls)."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion", "NotFound")


def _base64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def stream_version(key: str, version_id: str) -> Iterator[bytes] | None:
    """The bytes of one version, a chunk of 1 MiB at a time (never the whole file in memory), or
    None when S3 holds no such version (it was deleted). The GET is made now, its body read as
    the chunks are taken.

    A version the malware scanner tagged as a threat is refused by the bucket policy
    (DenyThreatDownloads) to the roles that hand files to people, and may be tagged before its
    result is recorded: such a refusal raises `Threat`, the version's tag read to tell it from a
    refusal that is a fault (ServiceUnavailable)."""
    try:
        body = client().get_object(Bucket=load(StorageSettings).bucket, Key=key, VersionId=version_id)["Body"]
    except aws.failures() as exc:
        if _missing(exc):
            return None
        if _refused(exc) and scan_status_tag(key, version_id) == "THREATS_FOUND":
            raise Threat(
                "Malware was found in this file: it is quarantined.", extra={"scan": "threat", "scan_detail": None}
            ) from exc
        raise _failure("GET", exc) from exc
    return _chunks(body)


def _refused(exc: Exception) -> bool:
    """S3 refused the request by policy (403 AccessDenied)."""
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "AccessDenied"


def _chunks(body: StreamingBody) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(_CHUNK)
    except aws.failures() as exc:
        raise _failure("GET", exc) from exc
    finally:
        body.close()


class MultipartUpload:
    """An object written in parts as its bytes come (S3 multipart upload), holding at most one
    part in memory. `complete` makes it appear whole; `abort` leaves nothing.

    What is written is held as given, not copied (so it must not change afterwards), and joined
    once into each part: every byte is copied once here. Appending to a buffer and slicing each
    part off it copied every byte three times, into fresh memory each time, which an export paid
    for in CPU and page faults (docs/PERFORMANCE.md, the export)."""

    PART_BYTES = 8 * 1024 * 1024  # S3 wants at least 5 MiB a part but the last

    def __init__(self, key: str, *, content_type: str, content_disposition: str) -> None:
        self.key = key
        self.bucket = load(StorageSettings).bucket
        self._held: list[bytes | memoryview] = []
        self._held_bytes = 0
        self._parts: list[CompletedPartTypeDef] = []
        self.bytes = 0
        try:
            self._upload_id = client().create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=content_type, ContentDisposition=content_disposition
            )["UploadId"]
        except aws.failures() as exc:
            raise _failure("CreateMultipartUpload", exc) from exc

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self._held.append(data)
        self._held_bytes += len(data)
        while self._held_bytes >= self.PART_BYTES:
            self._send(self._part())

    def _part(self) -> bytes:
        """The first PART_BYTES held, joined; the rest of the last piece stays held. The part ends
        within the last piece: less than a part was held before it came."""
        rest = self._held_bytes - self.PART_BYTES
        last = memoryview(self._held[-1])
        part = b"".join([*self._held[:-1], last[: len(last) - rest]])
        self._held = [last[len(last) - rest :]] if rest else []
        self._held_bytes = rest
        return part

    def _send(self, part: bytes) -> None:
        number = len(self._parts) + 1
        try:
            answer = client().upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=part
            )
        except aws.failures() as exc:
            raise _failure("UploadPart", exc) from exc
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def complete(self) -> None:
        if self._held_bytes or not self._parts:
            self._send(b"".join(self._held))
            self._held, self._held_bytes = [], 0
        try:
            client().complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
            )
        except aws.failures() as exc:
            raise _failure("CompleteMultipartUpload", exc) from exc

    def abort(self) -> None:
        """Best effort: the bucket's lifecycle rule removes what an abort cannot."""
        try:
            client().abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        except aws.failures():
            pass


def presign_export(key: str, ttl_s: int) -> str:
    return client().generate_presigned_url(
        "get_object", Params={"Bucket": load(StorageSettings).bucket, "Key": key}, ExpiresIn=ttl_s
    )


# --- malware scan tags -------------------------------------------------------------------------


def scan_status_tag(key: str, version_id: str) -> ScanStatus | None:
    """The malware scanner's tag on one version (GuardDuty writes it as it scans, and it stays: the
    durable copy of a result whose event was lost), or None: not scanned yet, or no such version."""
    from exam_depository.domain.scans import STATE_OF, TAG_KEY

    try:
        tags = client().get_object_tagging(Bucket=load(StorageSettings).bucket, Key=key, VersionId=version_id)
    except aws.failures() as exc:
        if _missing(exc):
            return None
        raise _failure("GetObjectTagging", exc) from exc
    for tag in tags["TagSet"]:
        if tag["Key"] == TAG_KEY:
            value = tag["Value"]
            if value not in STATE_OF:
                raise ServiceUnavailable(f"S3 tag {TAG_KEY} has an unknown value: {value!r}", service="S3")
            return cast("ScanStatus", value)
    return None


# --- S3 event notifications, as they arrive in SQS message bodies ----------------------------


def objects_created(body: dict[str, Any]) -> list[ObjectCreated]:
    """The ObjectCreated records of one S3 notification.

    S3 sends an `s3:TestEvent` without Records when the notification is configured, and
    URL-encodes keys (`+` for a space): both are handled here, once. An object written while the
    bucket was not versioned has no `versionId`: S3 calls that version "null".
    """
    # Imported here: the recorder's decisions (a dozen dataclasses, ~5 ms at import) are loaded
    # by the functions that record or reconcile, not by every function that touches the bucket.
    from exam_depository.domain.recording import ObjectCreated

    created = []
    for record in body.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3_object = record["s3"]["object"]
        created.append(
            ObjectCreated(
                key=unquote_plus(s3_object["key"]),
                version_id=str(s3_object.get("versionId") or NULL_VERSION),
                size_bytes=int(s3_object.get("size", 0)),
                sequencer=str(s3_object["sequencer"]),
                event_time=datetime.fromisoformat(record["eventTime"]),
            )
        )
    return created
