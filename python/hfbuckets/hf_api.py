"""HfApi: the bucket part of huggingface_hub's HfApi, over libbuckets.

Every method is also exported at module level, bound to a default HfApi()
(endpoint from $HF_ENDPOINT, token from $HF_TOKEN or $HF_HOME/token, exactly as
the `hf` CLI resolves them, since both call bk_client_new)."""
from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import warnings
from ctypes import byref, c_char_p, c_uint64, c_void_p
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _lib
from ._buckets import (BucketFile, BucketFolder, BucketInfo, BucketUrl, SyncPlan, tree_entry)
from ._lib import b, check, take_str
from .errors import RemoteEntryNotFoundError, SyncIncompleteError

TokenT = Union[str, bool, None]


@dataclass
class XetFileData:
    file_hash: str
    refresh_route: str


@dataclass
class BucketFileMetadata:
    size: int
    xet_file_data: XetFileData


def _web_url_to_uri(url: str, endpoint: str) -> str:
    """`http(s)://HOST/buckets/ns/name[/tree/P | /resolve/P]` -> `hf://buckets/ns/name[/P]`
    (as huggingface_hub's bucket URI parser accepts Hub web URLs). HOST must be the
    configured endpoint's host[:port]; the path is percent-decoded."""
    from urllib.parse import unquote, urlsplit
    u, e = urlsplit(url), urlsplit(endpoint)
    base = e.path.rstrip("/")
    if u.netloc.lower() != e.netloc.lower() or not u.path.startswith(base + "/buckets/"):
        raise ValueError(f"{url!r} is not a bucket URL of the configured endpoint {endpoint} "
                         f"(expected {endpoint.rstrip('/')}/buckets/NAMESPACE/NAME[/tree/PATH])")
    parts = unquote(u.path[len(base) + len("/buckets/"):]).split("/", 3)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"{url!r}: expected {endpoint.rstrip('/')}/buckets/NAMESPACE/NAME")
    path = ""
    if len(parts) >= 3 and parts[2]:
        if parts[2] not in ("tree", "resolve"):
            raise ValueError(f"unsupported bucket URL {url!r}: expected /tree/PATH or /resolve/PATH")
        path = parts[3] if len(parts) == 4 else ""
    return f"hf://buckets/{parts[0]}/{parts[1]}" + (f"/{path}" if path else "")


_REGION_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def _region_name(s: object) -> bool:
    """The form of a region name (whether the server has it is its answer)."""
    return isinstance(s, str) and _REGION_RE.fullmatch(s) is not None


def _is_web_url(s: str) -> bool:
    return s.startswith("http://") or s.startswith("https://")


def _norm_id(bucket_id: str, endpoint: Optional[str] = None) -> str:
    """'ns/name', 'hf://buckets/ns/name' or a Hub web URL of `endpoint`
    -> 'ns/name' (a path suffix is refused)."""
    s = str(bucket_id)
    if _is_web_url(s):
        s = _web_url_to_uri(s, endpoint or "")
    if s.startswith("hf://") or s.count("/") >= 1:
        bid, path = _lib.uri_parse(s, allow_short=True)
        if path:
            raise ValueError(f"expected a bucket id without a path: {bucket_id!r}")
        return bid
    raise ValueError(f"expected a bucket id 'namespace/name': {bucket_id!r}")


def _cstr_array(items: List[str]):
    arr = (c_char_p * max(1, len(items)))()
    for i, s in enumerate(items):
        arr[i] = b(s)
    return arr


class HfApi:
    """Client for the bucket endpoints of a Hub-compatible server.

    endpoint: base URL (default $HF_ENDPOINT, else http://127.0.0.1:8080).
    token: str, or None/True for the saved token ($HF_TOKEN, $HF_HOME/token),
    or False for anonymous calls. hf_home overrides $HF_HOME (token file and
    the local shard cache). parallel: transfers in flight (0 = C default).
    library_name/library_version/user_agent/headers are accepted for
    huggingface_hub compatibility and ignored."""

    def __init__(self, endpoint: Optional[str] = None, token: TokenT = None, *,
                 hf_home: Optional[str] = None, parallel: int = 0,
                 library_name: Optional[str] = None, library_version: Optional[str] = None,
                 user_agent=None, headers=None):
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.token = token
        self.hf_home = hf_home
        self._pool = _lib.ClientPool(self.endpoint, hf_home, parallel)

    # -- plumbing ---------------------------------------------------------
    def _c(self, token: TokenT = None) -> _lib.Client:
        t = token if token is not None else self.token
        if t is True:
            t = None
        return self._pool.get(t)

    def _json(self, fn, *args, what: str = "", bucket_id: Optional[str] = None,
              token: TokenT = None):
        out = c_void_p()
        c = self._c(token)
        check(fn(c.h, *args, byref(out)), what, bucket_id=bucket_id)
        s = take_str(out)
        return json.loads(s) if s else None

    def _id(self, bucket_id: str, token: TokenT = None) -> str:
        s = str(bucket_id)
        return _norm_id(s, self._c(token).endpoint if _is_web_url(s) else None)

    def _uri(self, s: str, token: TokenT = None) -> str:
        s = str(s)
        return _web_url_to_uri(s, self._c(token).endpoint) if _is_web_url(s) else s

    def close(self) -> None:
        self._pool.close()

    def get_endpoint(self, token: TokenT = None) -> str:
        return self._c(token).endpoint

    def whoami(self, token: TokenT = None) -> dict:
        return self._json(_lib.lib.bk_whoami, what="whoami", token=token)

    # -- buckets ----------------------------------------------------------
    def create_bucket(self, bucket_id: str, *, private: Optional[bool] = None,
                      resource_group_id: Optional[str] = None, region: Optional[str] = None,
                      exist_ok: bool = False, token: TokenT = None) -> BucketUrl:
        if resource_group_id is not None:
            raise ValueError("resource groups are not supported by this server")
        if region is not None and not _region_name(region):
            raise ValueError("region must be a region name (a-z, 0-9, '-', at most 32, "
                             "starting with a letter) or None; the server says which exist")
        s = str(bucket_id)
        if not s.startswith("hf://") and "/" in s:
            s = self._id(s)
        priv = -1 if private is None else (1 if private else 0)
        j = self._json(_lib.lib.bk_bucket_create, b(s), priv, b(region), 1 if exist_ok else 0,
                       what=f"create bucket {bucket_id}", token=token)
        endpoint = self._c(token).endpoint
        url = j["url"]
        if not url.startswith(endpoint + "/buckets/"):
            url = f"{endpoint}/buckets/{j['id']}"  # the server's public URL may differ
        return BucketUrl(url=url, endpoint=endpoint)

    def bucket_info(self, bucket_id: str, *, token: TokenT = None) -> BucketInfo:
        bid = self._id(bucket_id)
        j = self._json(_lib.lib.bk_bucket_info, b(bid), what=f"bucket {bid}", bucket_id=bid,
                       token=token)
        return BucketInfo(**j)

    def list_buckets(self, namespace: Optional[str] = None, *, search: Optional[str] = None,
                     token: TokenT = None) -> Iterator[BucketInfo]:
        j = self._json(_lib.lib.bk_bucket_list, b(namespace), b(search),
                       what=f"list buckets of {namespace or 'me'}", token=token)
        for d in j or []:
            yield BucketInfo(**d)

    def delete_bucket(self, bucket_id: str, *, missing_ok: bool = False,
                      token: TokenT = None) -> None:
        bid = self._id(bucket_id)
        check(_lib.lib.bk_bucket_delete(self._c(token).h, b(bid), 1 if missing_ok else 0),
              f"delete bucket {bid}", bucket_id=bid)

    def move_bucket(self, from_id: str, to_id: str, *, token: TokenT = None) -> None:
        f, t = self._id(from_id), self._id(to_id)
        check(_lib.lib.bk_bucket_move(self._c(token).h, b(f), b(t)), f"move bucket {f} -> {t}",
              bucket_id=f)

    def update_bucket_settings(self, bucket_id: str, *, private: Optional[bool] = None,
                               prewarm: Optional[Sequence[str]] = None,
                               token: TokenT = None) -> None:
        """Changes the visibility (`private`) and/or the warm regions
        (`prewarm`: the regions that keep a copy of the bucket's data, new
        writes copied there as they land; [] clears). At least one is needed."""
        if private is None and prewarm is None:
            raise ValueError("give private=... and/or prewarm=[...]")
        warm = None
        if prewarm is not None:
            if isinstance(prewarm, str):
                raise TypeError("prewarm is a list of region names, e.g. ['us', 'eu']")
            names = [str(r) for r in prewarm]
            bad = [r for r in names if not _region_name(r)]
            if bad:
                raise ValueError(f"not a region name: {bad[0]!r}")
            warm = ",".join(names)
        bid = self._id(bucket_id)
        priv = -1 if private is None else (1 if private else 0)
        self._json(_lib.lib.bk_bucket_update_settings, b(bid), priv, b(warm),
                   what=f"bucket settings {bid}", bucket_id=bid, token=token)

    def prewarm_bucket(self, bucket_id: str, region: str, prefix: Optional[str] = None, *,
                       token: TokenT = None) -> dict:
        """Queues a copy of the bucket's data (files under `prefix`, default
        all) into `region`; only what the region lacks is copied, in the
        background. Returns {"job", "region", "prefix"}; `bucket_info(...).regions`
        shows the progress."""
        if not isinstance(region, str) or not _region_name(region):
            raise ValueError("region must be a region name (a-z, 0-9, '-', at most 32)")
        bid = self._id(bucket_id)
        return self._json(_lib.lib.bk_bucket_prewarm, b(bid), b(region),
                          b(prefix) if prefix else None, what=f"pre-warm {bid}",
                          bucket_id=bid, token=token)

    # -- files ------------------------------------------------------------
    def list_bucket_tree(self, bucket_id: str, prefix: Optional[str] = None,
                         recursive: Optional[bool] = None, *,
                         token: TokenT = None) -> Iterator[Union[BucketFile, BucketFolder]]:
        """Files (and, with recursive=False, folders) under prefix. As on the
        Hub, leaving recursive out (None) lists every nested file: the Hub
        client sends no `recursive` parameter and the server's default is
        recursive. recursive=False gives the top level plus `BucketFolder`s."""
        bid = self._id(bucket_id)
        pfx = (prefix or "").strip("/")
        rec = recursive is None or bool(recursive)
        j = self._json(_lib.lib.bk_bucket_tree, b(bid), b(pfx), 1 if rec else 0,
                       what=f"list {bid}/{pfx}", bucket_id=bid, token=token)
        for d in j or []:
            yield tree_entry(d)

    def _tree_raw(self, bucket_id: str, prefix: str, recursive: bool, token: TokenT = None) -> list:
        return self._json(_lib.lib.bk_bucket_tree, b(bucket_id), b(prefix), 1 if recursive else 0,
                          what=f"list {bucket_id}/{prefix}", bucket_id=bucket_id,
                          token=token) or []

    def get_bucket_paths_info(self, bucket_id: str, paths: Iterable[str], *,
                              token: TokenT = None) -> Iterator[BucketFile]:
        bid = self._id(bucket_id)
        plist = [str(p).strip("/") for p in paths]
        arr = _cstr_array(plist)
        j = self._json(_lib.lib.bk_bucket_paths_info, b(bid), arr, len(plist),
                       what=f"paths-info {bid}", bucket_id=bid, token=token)
        for d in j or []:
            if d.get("type", "file") == "file":
                yield BucketFile.from_json(d)

    def get_bucket_file_metadata(self, bucket_id: str, remote_path: str, *,
                                 token: TokenT = None) -> BucketFileMetadata:
        bid = self._id(bucket_id)
        found = list(self.get_bucket_paths_info(bid, [remote_path], token=token))
        if not found:
            raise RemoteEntryNotFoundError(f"{bid}/{remote_path}: not found", status_code=404)
        f = found[0]
        return BucketFileMetadata(size=f.size, xet_file_data=XetFileData(
            file_hash=f.xet_hash, refresh_route=f"/api/buckets/{bid}/xet-read-token"))

    def batch_bucket_files(self, bucket_id: str, *,
                           add: Optional[List[Tuple[Union[str, Path, bytes], str]]] = None,
                           copy: Optional[List[Tuple[str, str, str, str]]] = None,
                           delete: Optional[List[str]] = None,
                           token: TokenT = None) -> None:
        """add: (local path or bytes, remote path); copy: (source_repo_type,
        source_repo_id, xet_hash, remote path); delete: remote paths. Bytes are
        chunked, deduplicated and uploaded by libbuckets; then one batch
        registers everything (adds, then copies, then deletes)."""
        bid = self._id(bucket_id)
        add, copy, delete = list(add or []), list(copy or []), list(delete or [])
        c = self._c(token)
        if add and not copy and not delete:
            items, keep = self._upload_items(add)
            st = _lib.TransferStats()
            check(_lib.lib.bk_upload(c.h, b(bid), items, len(add), byref(st)),
                  f"upload to {bid}", bucket_id=bid)
            self.last_transfer = st.as_dict()
            del keep
            return
        lines = []
        if add:
            items, keep = self._upload_items(add)
            meta = []
            for src, _dst in add:
                if isinstance(src, (bytes, bytearray, memoryview)):
                    meta.append((len(src), None))
                else:
                    stt = os.stat(src)
                    meta.append((stt.st_size, stt.st_mtime_ns // 1_000_000))
            hashes = (ctypes.c_char * 65 * len(add))()
            st = _lib.TransferStats()
            check(_lib.lib.bk_xet_upload(c.h, b(bid), items, len(add), hashes, byref(st)),
                  f"upload to {bid}", bucket_id=bid)
            self.last_transfer = st.as_dict()
            import time
            now = int(time.time() * 1000)
            for i, (_src, dst) in enumerate(add):
                size, mt = meta[i]
                lines.append({"type": "addFile", "path": str(dst).strip("/"),
                              "xetHash": hashes[i].value.decode(), "size": size,
                              "mtime": mt if mt is not None else now})
            del keep
        for src_type, _src_id, _h, _dst in copy:
            if src_type and str(src_type).rstrip("s") != "bucket":
                raise ValueError(f"copy from a {src_type} repository: repositories are not "
                                 "supported by this server (only buckets are stored here)")
        for src_type, src_id, xet_hash, dst in copy:
            lines.append({"type": "copyFile", "path": str(dst).strip("/"), "xetHash": xet_hash,
                          "sourceRepoType": src_type.rstrip("s") if src_type else "bucket",
                          "sourceRepoId": src_id})
        for p in delete:
            lines.append({"type": "deleteFile", "path": str(p).strip("/")})
        if not lines:
            return
        nd = "".join(json.dumps(x) + "\n" for x in lines)
        self._json(_lib.lib.bk_bucket_batch, b(bid), b(nd), what=f"batch {bid}", bucket_id=bid,
                   token=token)

    @staticmethod
    def _upload_items(add):
        items = (_lib.UploadItem * len(add))()
        keep = []
        for i, (src, dst) in enumerate(add):
            it = items[i]
            if isinstance(src, bytearray) and len(src):
                arr = (ctypes.c_char * len(src)).from_buffer(src)  # no copy
                keep.append(arr)
                it.local_path = None
                it.data = ctypes.cast(arr, c_void_p)
                it.len = len(src)
            elif isinstance(src, (bytes, bytearray, memoryview)):
                buf = bytes(src) if not isinstance(src, bytes) else src
                keep.append(buf)
                it.local_path = None
                it.data = ctypes.cast(c_char_p(buf), c_void_p) if buf else None
                it.len = len(buf)
            else:
                p = os.fspath(src)
                if not os.path.isfile(p):
                    raise FileNotFoundError(f"no such local file: {p}")
                it.local_path = b(p)
                it.data = None
                it.len = 0
            it.remote_path = b(str(dst).strip("/"))
            it.mtime_ms = -1
        return items, keep

    def download_bucket_files(self, bucket_id: str,
                              files: List[Tuple[Union[str, BucketFile], Union[str, Path]]], *,
                              raise_on_missing_files: bool = False,
                              token: TokenT = None) -> None:
        bid = self._id(bucket_id)
        c = self._c(token)
        names = [r for r, _ in files if not isinstance(r, BucketFile)]
        info = {}
        if names:
            info = {f.path: f for f in self.get_bucket_paths_info(bid, names, token=token)}
        missing = []
        for remote, local in files:
            f = remote if isinstance(remote, BucketFile) else info.get(str(remote).strip("/"))
            if f is None:
                missing.append(str(remote))
                continue
            mt = int(f.mtime.timestamp() * 1000) if f.mtime else -1
            st = _lib.TransferStats()
            check(_lib.lib.bk_download_hash(c.h, b(bid), b(f.xet_hash), f.size, mt,
                                            b(os.fspath(local)), byref(st)),
                  f"download {bid}/{f.path}", bucket_id=bid, path=f.path)
        if missing:
            msg = f"{len(missing)} file(s) not found in bucket {bid}: {', '.join(missing[:10])}"
            if raise_on_missing_files:
                raise RemoteEntryNotFoundError(msg, status_code=404)
            warnings.warn(msg)

    def copy_files(self, source: str, destination: str, *, token: TokenT = None) -> None:
        """Server-side copy (by Xet hash) of a file or folder between buckets;
        cp -r destination rules. Only hf://buckets/ URIs on both ends."""
        src, dst = self._uri(source, token), self._uri(destination, token)
        if not dst.startswith("hf://buckets/"):
            if src.startswith("hf://buckets/"):
                raise ValueError("Bucket-to-repo copy is not supported.")
            raise ValueError(f"destination must be a hf://buckets/ URI: {dst!r}")
        if not src.startswith("hf://buckets/"):
            if src.startswith("hf://"):
                raise ValueError(f"{src}: repositories (models, datasets, spaces) are not supported "
                                 "by this server; only buckets (hf://buckets/...) are stored here")
            raise ValueError(f"source must be a hf://buckets/ URI: {src!r}")
        sid, spath = _lib.uri_parse(src, allow_short=False)
        check(_lib.lib.bk_bucket_copy(self._c(token).h, b(src), b(dst)), f"copy {src} -> {dst}",
              bucket_id=sid, path=spath or None)

    def delete_bucket_files(self, bucket_id: str, paths: List[str], *, token: TokenT = None) -> None:
        bid = self._id(bucket_id)
        plist = [str(p).strip("/") for p in paths]
        if not plist:
            return
        check(_lib.lib.bk_bucket_delete_files(self._c(token).h, b(bid), _cstr_array(plist),
                                              len(plist)), f"delete files in {bid}", bucket_id=bid)

    def read_bucket_range(self, bucket_id: str, xet_hash: str, offset: int, length: int,
                          out=None, *, token: TokenT = None):
        """Reads [offset, offset+length) of a file by Xet hash (C range download).
        Returns bytes, or the count read into `out` (a writable buffer) if given."""
        r = self._read_range(bucket_id, xet_hash, offset, length, out, token=token)
        return bytes(r) if isinstance(r, bytearray) else r

    def _read_range(self, bucket_id: str, xet_hash: str, offset: int, length: int,
                    out=None, *, token: TokenT = None):
        """As read_bucket_range, but returns a bytearray (no copy) for 64 KiB and more."""
        c = self._c(token)
        ret_count = out is not None
        if out is None:
            out = bytearray(length)
        ptr = (ctypes.c_char * length).from_buffer(out) if length else None
        got = c_uint64(0)
        if length:
            check(_lib.lib.bk_read_range(c.h, b(bucket_id), b(xet_hash), offset, length, ptr,
                                         byref(got)), f"read {bucket_id}", bucket_id=bucket_id,
                  path=xet_hash)
        del ptr
        if ret_count:
            return got.value
        if got.value < length:
            del out[got.value:]
        return bytes(out) if length < (1 << 16) else out

    # -- sync -------------------------------------------------------------
    def sync_bucket(self, source: Optional[str] = None, dest: Optional[str] = None, *,
                    delete: bool = False, ignore_times: bool = False, ignore_sizes: bool = False,
                    existing: bool = False, ignore_existing: bool = False,
                    include: Optional[List[str]] = None, exclude: Optional[List[str]] = None,
                    filter_from: Optional[str] = None, plan: Optional[str] = None,
                    apply: Optional[str] = None, dry_run: bool = False, verbose: bool = False,
                    quiet: bool = False, force: bool = False,
                    token: TokenT = None) -> SyncPlan:
        """rsync-like sync between a local directory and hf://buckets/ns/name[/prefix]
        (exactly one side remote). Planning and transfers run in libbuckets.
        plan=FILE writes the JSONL plan without executing; apply=FILE executes a
        saved plan (refused with SyncPlanStaleError if a source changed since,
        unless force=True); dry_run prints the JSONL plan to stdout."""
        if include is not None and isinstance(include, str):
            include = [include]
        if exclude is not None and isinstance(exclude, str):
            exclude = [exclude]
        if ignore_times and ignore_sizes:
            raise ValueError("Cannot use both ignore_times and ignore_sizes.")
        if existing and ignore_existing:
            raise ValueError("Cannot use both existing and ignore_existing.")
        if dry_run and plan:
            raise ValueError("Cannot use both dry_run and plan.")
        if force and not apply:
            raise ValueError("force only applies to apply.")
        c = self._c(token)
        failed: List[str] = []

        def log(level: int, line: str) -> None:
            if level == 2:  # one file failed and was skipped; the others go on
                failed.append(line)
                if not quiet:
                    print(f"Failed: {line}", file=sys.stderr, flush=True)
            elif verbose and not quiet:
                print(line, flush=True)
            elif level == 0 and not quiet and not dry_run:
                print(line, file=sys.stderr, flush=True)
        c.set_log(log)
        try:
            return self._sync_bucket(c, source, dest, delete, ignore_times, ignore_sizes,
                                     existing, ignore_existing, include, exclude, filter_from,
                                     plan, apply, dry_run, verbose, quiet, force)
        except SyncIncompleteError as e:
            e.failed = failed
            raise
        finally:
            c.set_log(None)

    def _sync_bucket(self, c, source, dest, delete, ignore_times, ignore_sizes, existing,
                     ignore_existing, include, exclude, filter_from, plan, apply, dry_run,
                     verbose, quiet, force) -> SyncPlan:
        if apply is not None:
            if any([source, dest, delete, ignore_times, ignore_sizes, existing, ignore_existing,
                    include, exclude, filter_from, plan, dry_run]):
                raise ValueError("apply cannot be combined with other sync options.")
            text = Path(apply).read_text()
            st = _lib.TransferStats()
            check(_lib.lib.bk_sync_apply_jsonl(c.h, b(text), 1 if force else 0, byref(st)),
                  f"apply {apply}")
            self.last_transfer = st.as_dict()
            result = SyncPlan.from_jsonl(text)
            if not quiet:
                _print_summary(result, "Sync completed.")
            return result
        if not source or not dest:
            raise ValueError("source and dest are required (or apply=PLAN)")
        # Hub web URLs of the endpoint (…/buckets/ns/name[/tree/P]) name the bucket side
        if _is_web_url(str(source)):
            source = _web_url_to_uri(str(source), c.endpoint)
        if _is_web_url(str(dest)):
            dest = _web_url_to_uri(str(dest), c.endpoint)
        o = _lib.SyncOpts()
        o.source, o.dest = b(str(source)), b(str(dest))
        o.delete_files = 1 if delete else 0
        o.ignore_times, o.ignore_sizes = int(ignore_times), int(ignore_sizes)
        o.existing, o.ignore_existing = int(existing), int(ignore_existing)
        inc, exc = list(include or []), list(exclude or [])
        ia, ea = _cstr_array(inc), _cstr_array(exc)
        o.include, o.n_include = ctypes.cast(ia, ctypes.POINTER(c_char_p)), len(inc)
        o.exclude, o.n_exclude = ctypes.cast(ea, ctypes.POINTER(c_char_p)), len(exc)
        o.filter_from = b(os.fspath(filter_from)) if filter_from else None
        o.verbose = 1 if verbose else 0
        out = c_void_p()
        if plan is not None or dry_run:
            check(_lib.lib.bk_sync_plan_jsonl(c.h, byref(o), byref(out)),
                  f"sync {source} -> {dest}")
            text = take_str(out)
            result = SyncPlan.from_jsonl(text)
            if plan is not None:
                Path(plan).write_text(text)
                if not quiet:
                    _print_summary(result, f"Plan saved to: {plan}")
            elif not quiet:
                sys.stdout.write(text)
                sys.stdout.flush()
            return result
        st = _lib.TransferStats()
        rc = _lib.lib.bk_sync(c.h, byref(o), byref(out), byref(st))
        text = take_str(out) if out.value else ""
        check(rc, f"sync {source} -> {dest}")
        self.last_transfer = st.as_dict()
        result = SyncPlan.from_jsonl(text)
        if not quiet:
            _print_summary(result, "Sync completed.")
        return result


def _print_summary(plan: SyncPlan, last: str) -> None:
    """The CLI's human summary of a plan (printed after the fact: bk_sync plans and
    executes in one C call)."""
    s = plan.summary()
    print(f"Sync plan: {plan.source} -> {plan.dest}")
    print(f"  Uploads: {s['uploads']}\n  Downloads: {s['downloads']}\n  Deletes: {s['deletes']}\n"
          f"  Skips: {s['skips']}")
    if not last.startswith("Plan saved") and s["uploads"] + s["downloads"] + s["deletes"] == 0:
        last = "Nothing to sync."
    print(last, flush=True)


_default = HfApi()

whoami = _default.whoami
create_bucket = _default.create_bucket
bucket_info = _default.bucket_info
list_buckets = _default.list_buckets
delete_bucket = _default.delete_bucket
move_bucket = _default.move_bucket
update_bucket_settings = _default.update_bucket_settings
prewarm_bucket = _default.prewarm_bucket
list_bucket_tree = _default.list_bucket_tree
get_bucket_paths_info = _default.get_bucket_paths_info
get_bucket_file_metadata = _default.get_bucket_file_metadata
batch_bucket_files = _default.batch_bucket_files
download_bucket_files = _default.download_bucket_files
copy_files = _default.copy_files
sync_bucket = _default.sync_bucket
