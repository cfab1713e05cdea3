"""Exceptions, named after huggingface_hub.errors.

libbuckets returns BK_E* codes plus a one-line message; the HTTP status is
recovered from the code (401/403/404/409) or from the "HTTP <n>" text."""
from __future__ import annotations

import re
from typing import Optional

# libbuckets codes (include/buckets/error.h)
BK_EINVAL, BK_EIO, BK_ENOTFOUND, BK_EEXIST, BK_EPERM = -2, -3, -9, -10, -11
BK_ENET, BK_EHTTP, BK_EAUTH, BK_ESTALE = -14, -15, -16, -17
BK_EPARTIAL = -20


class BucketsError(Exception):
    """Base of every error raised by hfbuckets; `code` is the BK_E* value."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class HfHubHTTPError(BucketsError):
    """The server answered with an error status (`status_code`)."""

    def __init__(self, message: str, status_code: Optional[int] = None, code: int = BK_EHTTP,
                 server_message: Optional[str] = None):
        super().__init__(message, code)
        self.status_code = status_code
        self.server_message = server_message or message


class BadRequestError(HfHubHTTPError, ValueError):
    pass


class RepositoryNotFoundError(HfHubHTTPError):
    pass


class BucketNotFoundError(RepositoryNotFoundError):
    def __init__(self, message: str, bucket_id: Optional[str] = None, **kw):
        super().__init__(message, **kw)
        self.bucket_id = bucket_id


class EntryNotFoundError(HfHubHTTPError):
    pass


class RemoteEntryNotFoundError(EntryNotFoundError):
    pass


class HfHubConnectionError(BucketsError, ConnectionError):
    pass


class SyncPlanStaleError(BucketsError):
    """--apply refused: a source changed since the plan was made."""


class SyncIncompleteError(BucketsError):
    """Some files could not be transferred (e.g. a key that would leave the
    target through a symlink, or a name too long for the local filesystem);
    every other file was. `failed` lists "path: reason" per failed file."""

    def __init__(self, message: str, code: int = BK_EPARTIAL, failed: Optional[list] = None):
        super().__init__(message, code)
        self.failed = list(failed or [])


def from_code(rc: int, msg: str, name: str, *, what: str = "", bucket_id: Optional[str] = None,
              path: Optional[str] = None) -> BaseException:
    text = msg or name
    if what and what not in text:
        text = f"{what}: {text}"
    m = re.search(r"HTTP (\d{3})", msg or "") or re.search(r"\((\d{3})[;)]", msg or "")
    status = int(m.group(1)) if m else None
    if rc == BK_ENOTFOUND:
        if "bucket not found" in msg or (bucket_id and not path):
            return BucketNotFoundError(text, bucket_id=bucket_id, status_code=404, code=rc)
        return RemoteEntryNotFoundError(text, status_code=404, code=rc)
    if rc == BK_EAUTH:
        # huggingface_hub reports 401 on a repo as "not found" (it may exist but be private)
        if bucket_id:
            return BucketNotFoundError(text, bucket_id=bucket_id, status_code=401, code=rc)
        return HfHubHTTPError(text, status_code=401, code=rc)
    if rc == BK_EPERM:
        return HfHubHTTPError(text, status_code=403, code=rc)
    if rc == BK_EEXIST:
        return HfHubHTTPError(text, status_code=409, code=rc)
    if rc == BK_EHTTP:
        if status == 400:
            return BadRequestError(text, status_code=400, code=rc)
        return HfHubHTTPError(text, status_code=status, code=rc)
    if rc == BK_ENET:
        return HfHubConnectionError(text, rc)
    if rc == BK_EINVAL:
        return ValueError(text)
    if rc == BK_EIO:
        return OSError(text)
    if rc == BK_ESTALE:
        return SyncPlanStaleError(text, rc)
    if rc == BK_EPARTIAL:
        return SyncIncompleteError(text, rc)
    return BucketsError(text, rc)
