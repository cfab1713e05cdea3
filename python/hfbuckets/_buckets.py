"""Dataclasses of the bucket API (names and fields follow huggingface_hub._buckets)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, List, Optional, Union


def parse_dt(v: Any) -> Optional[datetime]:
    """ISO-8601 string or epoch milliseconds -> aware datetime (None if absent)."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        from datetime import timezone
        return datetime.fromtimestamp(v / 1000.0, tz=timezone.utc)
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class HfUri:
    """Parsed `hf://buckets/<ns>/<name>[/<path>]`."""
    type: str
    id: str
    path: str = ""

    def __str__(self) -> str:
        return f"hf://buckets/{self.id}" + (f"/{self.path}" if self.path else "")


@dataclass
class BucketUrl:
    """`BucketUrl(url, endpoint)`; namespace, bucket_id and handle are parsed
    from the url (`{endpoint}/buckets/{ns}/{name}`), as in huggingface_hub."""
    url: str
    endpoint: str = ""
    namespace: str = field(init=False)
    bucket_id: str = field(init=False)
    handle: str = field(init=False)

    def __post_init__(self) -> None:
        rest = self.url[len(self.endpoint):] if self.endpoint and self.url.startswith(self.endpoint) \
            else self.url.split("://", 1)[-1].split("/", 1)[-1]
        rest = rest.strip("/")
        if rest.startswith("buckets/"):
            rest = rest[len("buckets/"):]
        parts = rest.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"Unable to parse bucket URL: {self.url}")
        self.namespace = parts[0]
        self.bucket_id = rest
        self.handle = f"hf://buckets/{rest}"

    @property
    def uri(self) -> HfUri:
        return HfUri(type="bucket", id=self.bucket_id)

    def __str__(self) -> str:
        return self.url


class BucketInfo:
    """`id`, `private`, `created_at`, `size`, `total_files`, `region` (the home
    region; without regions configured on the server the "us"/"eu" label chosen
    at creation, None when none was), `regions` (with regions configured: one
    dict per region as the server's JSON, {"name", "home", "warm", "prewarm",
    "state": "warming"|"warm", "bytesPresent", "bytesNeeded", "lagMs", ...};
    else []); unknown JSON keys become extra attributes (as given)."""

    id: str
    private: bool
    created_at: Optional[datetime]
    size: int
    total_files: int
    region: Optional[str]
    regions: List[dict]

    def __init__(self, **kwargs: Any):
        self.id = kwargs.pop("id")
        self.private = bool(kwargs.pop("private", False))
        self.created_at = parse_dt(kwargs.pop("createdAt", kwargs.pop("created_at", None)))
        self.size = int(kwargs.pop("size", kwargs.pop("usedStorage", 0)) or 0)
        self.total_files = int(kwargs.pop("totalFiles", kwargs.pop("total_files", 0)) or 0)
        self.region = kwargs.pop("region", None)
        self.regions = list(kwargs.pop("regions", None) or [])
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return (f"BucketInfo(id={self.id!r}, private={self.private}, created_at={self.created_at!r}, "
                f"size={self.size}, total_files={self.total_files})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BucketInfo) and vars(self) == vars(other)


def _pick(kw: dict, *names: str, default: Any = None) -> Any:
    for n in names:
        if n in kw:
            return kw.pop(n)
    return default


def _dt(v: Any) -> Optional[datetime]:
    return v if isinstance(v, datetime) or v is None else parse_dt(v)


@dataclass(init=False)
class BucketFile:
    """A file of a bucket. Built from the tree JSON (`xetHash`, `uploadedAt`)
    or with snake_case keywords, as huggingface_hub's BucketFile(**kwargs)."""
    type: str
    path: str
    size: int
    xet_hash: str
    mtime: Optional[datetime]
    uploaded_at: Optional[datetime]

    def __init__(self, **kwargs: Any):
        self.type = _pick(kwargs, "type", default="file")
        self.path = kwargs.pop("path")
        self.size = int(_pick(kwargs, "size", default=0) or 0)
        self.xet_hash = _pick(kwargs, "xetHash", "xet_hash", default="") or ""
        self.mtime = _dt(_pick(kwargs, "mtime"))
        self.uploaded_at = _dt(_pick(kwargs, "uploadedAt", "uploaded_at"))

    @classmethod
    def from_json(cls, d: dict) -> "BucketFile":
        return cls(**{k: v for k, v in d.items()
                      if k in ("type", "path", "size", "xetHash", "mtime", "uploadedAt")})


@dataclass(init=False)
class BucketFolder:
    type: str
    path: str
    uploaded_at: Optional[datetime]

    def __init__(self, **kwargs: Any):
        self.type = _pick(kwargs, "type", default="directory")
        self.path = kwargs.pop("path")
        self.uploaded_at = _dt(_pick(kwargs, "uploadedAt", "uploaded_at"))

    @classmethod
    def from_json(cls, d: dict) -> "BucketFolder":
        return cls(**{k: v for k, v in d.items() if k in ("type", "path", "uploadedAt")})


def tree_entry(d: dict) -> Union[BucketFile, BucketFolder]:
    if d.get("type") == "directory":
        return BucketFolder.from_json(d)
    return BucketFile.from_json(d)


@dataclass
class SyncOperation:
    action: str  # upload | download | delete | skip
    path: str
    size: Optional[int] = None
    reason: str = ""
    local_mtime: Optional[str] = None
    remote_mtime: Optional[str] = None
    bucket_file: Optional[BucketFile] = field(default=None, repr=False, compare=False)


@dataclass
class SyncPlan:
    source: str
    dest: str
    timestamp: str
    operations: list = field(default_factory=list)

    def summary(self) -> dict:
        s = {"uploads": 0, "downloads": 0, "deletes": 0, "skips": 0, "total_size": 0}
        key = {"upload": "uploads", "download": "downloads", "delete": "deletes", "skip": "skips"}
        for op in self.operations:
            if op.action in key:
                s[key[op.action]] += 1
            if op.action in ("upload", "download"):
                s["total_size"] += op.size or 0
        return s

    @classmethod
    def from_jsonl(cls, text: str) -> "SyncPlan":
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ValueError("empty sync plan")
        h = json.loads(lines[0])
        if h.get("type") != "header":
            raise ValueError("sync plan: first line is not a header")
        plan = cls(source=h.get("source", ""), dest=h.get("dest", ""), timestamp=h.get("timestamp", ""))
        for ln in lines[1:]:
            o = json.loads(ln)
            if o.get("type") != "operation":
                continue
            plan.operations.append(SyncOperation(
                action=o["action"], path=o["path"], size=o.get("size"), reason=o.get("reason", ""),
                local_mtime=o.get("local_mtime"), remote_mtime=o.get("remote_mtime")))
        return plan

    def to_jsonl(self) -> str:
        out = [json.dumps({"type": "header", "source": self.source, "dest": self.dest,
                           "timestamp": self.timestamp, "summary": self.summary()})]
        for op in self.operations:
            d = {"type": "operation", "action": op.action, "path": op.path, "reason": op.reason}
            if op.size is not None:
                d["size"] = op.size
            if op.local_mtime:
                d["local_mtime"] = op.local_mtime
            if op.remote_mtime:
                d["remote_mtime"] = op.remote_mtime
            out.append(json.dumps(d))
        return "\n".join(out) + "\n"
