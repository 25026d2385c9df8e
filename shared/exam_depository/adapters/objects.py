"""What S3 holds as an object version, as the recorder and the reconcile job read it: its size and
SHA-256 (`StoredObject`), a question paper's (`StoredPaper`), a version as listed
(`ObjectVersion`). Apart from `storage`, which nearly every function loads at init to presign a
form or a link: these frozen dataclasses (about 0.4 ms of a cold start each to define) are loaded
by the functions that read objects, whose use cases import this module; `storage` imports it
where it makes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredObject:
    size_bytes: int
    # None for an object that is empty or over the limit: it is never hashed, only deleted.
    sha256: str | None
    checked_by_s3: bool = False  # S3 computed the SHA-256 (and checked it against the form's)
    # Read only where the form restricts its types: the object's first bytes (TYPE_PREFIX_BYTES),
    # or all of them where its PDFs are checked.
    first_bytes: bytes | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    size_bytes: int
    last_modified: datetime
    delete_marker: bool = False


@dataclass(frozen=True)
class StoredPaper:
    size_bytes: int
    # None for an object that is empty or over the limit: it is never read, only deleted.
    sha256: str | None
    starts_as_pdf: bool  # a PDF's header within its first bytes (`domain.papers.starts_as_pdf`)
