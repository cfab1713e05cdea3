"""fsspec filesystem for `hf://buckets/<ns>/<name>/<path>` over libbuckets.

Registered for protocol "hf" through the `fsspec.specs` entry point (see
python/pyproject.toml), so fsspec.filesystem("hf") and pandas find it without
an import. Reads go through bk_read_range (Xet reconstruction, by file hash,
so an open file always reads one version); writes are spooled to a local temp
file and uploaded with dedup on close (one addFile: readers see the old or the
new file). cp inside buckets registers the existing Xet hash (copyFile): no
bytes move."""
from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import fsspec
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from . import _lib
from ._buckets import parse_dt
from .errors import BucketNotFoundError, EntryNotFoundError, HfHubHTTPError
from .hf_api import HfApi

_MB = 1 << 20


def _iso(dt) -> Optional[str]:
    return dt.isoformat() if dt is not None else None


@contextlib.contextmanager
def _fs_errors():
    """Hub errors -> the OSError subclasses fsspec users expect."""
    try:
        yield
    except BucketNotFoundError as e:
        raise FileNotFoundError(str(e)) from e
    except EntryNotFoundError as e:
        raise FileNotFoundError(str(e)) from e
    except HfHubHTTPError as e:
        if e.status_code in (401, 403):
            raise PermissionError(str(e)) from e
        raise


class HfFileSystem(AbstractFileSystem):
    """Filesystem over bucket paths `buckets/<ns>/<name>/<path>` (the `hf://`
    prefix is optional). endpoint/token as for HfApi. block_size: read-ahead
    block for sequential reads (default 16 MiB). prefetch: blocks fetched ahead
    in background threads (default 2). spool_memory: bytes a writer keeps in
    memory before spooling to a temp file (default 256 MiB)."""

    protocol = "hf"
    root_marker = ""

    def __init__(self, endpoint: Optional[str] = None, token=None, *, block_size: int = 16 * _MB,
                 prefetch: int = 2, spool_memory: int = 256 * _MB, **kwargs):
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.token = token
        self.api = HfApi(endpoint=endpoint, token=token)
        self.blocksize = block_size
        self.prefetch = prefetch
        self.spool_memory = spool_memory
        self._pool_obj = None
        self._pool_pid = 0
        self._known_buckets: dict = {}
        self._mu = threading.Lock()

    @property
    def _pool(self) -> ThreadPoolExecutor:
        """Read-ahead threads (recreated in a forked child, whose copy has none)."""
        if self._pool_obj is None or self._pool_pid != os.getpid():
            with self._mu:
                if self._pool_obj is None or self._pool_pid != os.getpid():
                    self._pool_obj = ThreadPoolExecutor(max_workers=max(1, self.prefetch),
                                                        thread_name_prefix="hffs-read")
                    self._pool_pid = os.getpid()
        return self._pool_obj

    # -- paths --------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("hf://"):
            path = path[5:]
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        return "hf://" + self._strip_protocol(name)

    def _split(self, path: str):
        """-> (bucket_id, relative path); FileNotFoundError for non-bucket paths."""
        p = self._strip_protocol(path)
        parts = p.split("/")
        if len(parts) < 3 or parts[0] != "buckets" or not parts[1] or not parts[2]:
            raise FileNotFoundError(f"not a bucket path (expected buckets/<ns>/<name>[/path]): {path}")
        rel = "/".join(parts[3:])
        if any(seg in ("", ".", "..") for seg in rel.split("/")) and rel:
            raise FileNotFoundError(f"invalid path inside the bucket: {path}")
        return f"{parts[1]}/{parts[2]}", rel

    @staticmethod
    def _name(bid: str, rel: str) -> str:
        return f"buckets/{bid}" + (f"/{rel}" if rel else "")

    def _check_bucket(self, bid: str) -> None:
        if self._known_buckets.get(bid):
            return
        try:
            self.api.bucket_info(bid)
        except BucketNotFoundError as e:
            raise FileNotFoundError(f"bucket {bid} not found: {e}") from e
        except HfHubHTTPError as e:
            if e.status_code == 403:
                raise PermissionError(str(e)) from e
            raise
        self._known_buckets[bid] = True

    def _tree(self, bid: str, rel: str, recursive: bool) -> list:
        try:
            return self.api._tree_raw(bid, rel, recursive)
        except BucketNotFoundError as e:
            self._known_buckets.pop(bid, None)
            raise FileNotFoundError(f"bucket {bid} not found: {e}") from e
        except EntryNotFoundError:
            return []
        except HfHubHTTPError as e:
            if e.status_code in (401, 403):
                raise PermissionError(str(e)) from e
            raise

    def _entry(self, bid: str, d: dict) -> dict:
        name = self._name(bid, d["path"])
        if d.get("type") == "directory":
            return {"name": name, "size": 0, "type": "directory",
                    "uploaded_at": parse_dt(d.get("uploadedAt"))}
        return {"name": name, "size": int(d.get("size") or 0), "type": "file",
                "xet_hash": d.get("xetHash"), "mtime": parse_dt(d.get("mtime")),
                "uploaded_at": parse_dt(d.get("uploadedAt"))}

    # -- listing ------------------------------------------------------------
    def _ls_children(self, bid: str, rel: str, entries: list) -> list:
        """Direct children of rel from any (recursive or not) listing; deeper
        entries become synthetic folders (uploaded_at = newest below)."""
        base = rel + "/" if rel else ""
        out, dirs = [], {}
        for d in entries:
            p = d["path"]
            if rel and not p.startswith(base):
                continue  # the prefix itself (a file) or a lexical sibling
            sub = p[len(base):]
            if not sub:
                continue
            if "/" in sub or d.get("type") == "directory":
                top = sub.split("/")[0]
                cur = dirs.get(top)
                up = d.get("uploadedAt")
                if cur is None:
                    dirs[top] = {"name": self._name(bid, base + top), "size": 0,
                                 "type": "directory", "uploaded_at": up}
                elif up and (cur["uploaded_at"] is None or str(up) > str(cur["uploaded_at"])):
                    cur["uploaded_at"] = up
            else:
                out.append(self._entry(bid, d))
        for v in dirs.values():
            v["uploaded_at"] = parse_dt(v["uploaded_at"])
        names = {e["name"] for e in out}
        out.extend(v for v in dirs.values() if v["name"] not in names)
        out.sort(key=lambda e: e["name"])
        return out

    def ls(self, path, detail=True, refresh=False, **kwargs):
        p = self._strip_protocol(path)
        parts = p.split("/") if p else []
        if len(parts) == 2 and parts[0] == "buckets":  # a namespace: its buckets
            try:
                infos = list(self.api.list_buckets(parts[1]))
            except HfHubHTTPError as e:
                raise FileNotFoundError(str(e)) from e
            out = [{"name": f"buckets/{i.id}", "size": i.size, "type": "directory"} for i in infos]
            return out if detail else [e["name"] for e in out]
        bid, rel = self._split(p)
        name = self._name(bid, rel)
        if not refresh and name in self.dircache:
            out = self.dircache[name]
        else:
            entries = self._tree(bid, rel, False)
            files = [d for d in entries if d["path"] == rel and d.get("type", "file") == "file"]
            if rel and files and len(entries) == 1:
                out = [self._entry(bid, files[0])]  # ls of a file
                return out if detail else [out[0]["name"]]
            out = self._ls_children(bid, rel, entries)
            if not out:
                if files:
                    out = [self._entry(bid, files[0])]
                    return out if detail else [out[0]["name"]]
                self._check_bucket(bid)
                if rel:
                    raise FileNotFoundError(name)
            self.dircache[name] = out
        return list(out) if detail else [e["name"] for e in out]

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        bid, rel = self._split(path)
        entries = self._tree(bid, rel, True)
        if not entries:
            self._check_bucket(bid)
        base = rel + "/" if rel else ""
        out = {}
        for d in entries:
            p = d["path"]
            if d.get("type", "file") != "file":
                continue
            if p == rel:  # find on a file returns the file
                out[self._name(bid, p)] = self._entry(bid, d)
                continue
            if rel and not p.startswith(base):
                continue
            sub = p[len(base):]
            segs = sub.split("/")
            if maxdepth is not None and len(segs) > maxdepth:
                if withdirs:
                    for i in range(1, maxdepth + 1):
                        dn = self._name(bid, base + "/".join(segs[:i]))
                        out.setdefault(dn, {"name": dn, "size": 0, "type": "directory"})
                continue
            out[self._name(bid, p)] = self._entry(bid, d)
            if withdirs:
                for i in range(1, len(segs)):
                    dn = self._name(bid, base + "/".join(segs[:i]))
                    out.setdefault(dn, {"name": dn, "size": 0, "type": "directory"})
        if withdirs and rel and out and self._name(bid, rel) not in out:
            root = self._name(bid, rel)
            out[root] = {"name": root, "size": 0, "type": "directory"}
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def info(self, path, **kwargs):
        bid, rel = self._split(path)
        name = self._name(bid, rel)
        if not rel:
            self._check_bucket(bid)
            return {"name": name, "size": 0, "type": "directory"}
        parent = posixpath.dirname(name)
        cached = self.dircache.get(parent)
        if cached is not None:
            for e in cached:
                if e["name"] == name:
                    return dict(e)
        with _fs_errors():
            found = list(self.api.get_bucket_paths_info(bid, [rel]))
        for f in found:
            if f.path == rel:
                return {"name": name, "size": f.size, "type": "file", "xet_hash": f.xet_hash,
                        "mtime": f.mtime, "uploaded_at": f.uploaded_at}
        entries = self._tree(bid, rel, False)
        kids = self._ls_children(bid, rel, entries)
        if kids:
            newest = max((k.get("uploaded_at") for k in kids if k.get("uploaded_at")), default=None)
            return {"name": name, "size": 0, "type": "directory", "uploaded_at": newest}
        self._check_bucket(bid)
        raise FileNotFoundError(name)

    def modified(self, path):
        i = self.info(path)
        m = i.get("mtime") or i.get("uploaded_at")
        if m is None:
            raise IsADirectoryError(path) if i["type"] == "directory" else ValueError(path)
        return m

    def ukey(self, path):
        i = self.info(path)
        return i.get("xet_hash") or i["name"]

    def url(self, path):
        bid, rel = self._split(path)
        ep = self.api.get_endpoint()
        kind = "tree" if self.isdir(path) else "resolve"
        return f"{ep}/buckets/{bid}/{kind}/{rel}"

    def invalidate_cache(self, path=None):
        if path is None:
            self.dircache.clear()
            self._known_buckets.clear()
            return
        name = self._strip_protocol(path)
        while name:
            self.dircache.pop(name, None)
            if name.count("/") <= 2:
                break
            name = posixpath.dirname(name)
        # listings of any ancestor directory may hold the entry
        for k in list(self.dircache):
            if self._strip_protocol(path).startswith(k + "/"):
                self.dircache.pop(k, None)

    def mkdir(self, path, create_parents=True, **kwargs):
        bid, _ = self._split(path)
        self._check_bucket(bid)  # folders are implicit in buckets

    def makedirs(self, path, exist_ok=False):
        bid, _ = self._split(path)
        self._check_bucket(bid)

    def rmdir(self, path):
        pass  # folders vanish with their last file

    # -- transactions are not supported (as in huggingface_hub) ---------------
    def start_transaction(self):
        raise NotImplementedError("transactions are not supported on buckets")

    @property
    def transaction(self):
        raise NotImplementedError("transactions are not supported on buckets")

    # -- reading -------------------------------------------------------------
    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        if "a" in mode:
            raise NotImplementedError("append mode is not supported on buckets")
        if "r" in mode:
            if block_size == 0:  # huggingface_hub: block_size=0 = non-seekable stream
                return HfBucketStreamFile(self, path, block_size=self.blocksize)
            return HfBucketReadFile(self, path, block_size=block_size or self.blocksize)
        if "w" in mode or "x" in mode:
            if not autocommit:
                raise NotImplementedError("transactions are not supported on buckets")
            return HfBucketWriteFile(self, path, mode="wb",
                                     block_size=block_size or self.blocksize)
        raise ValueError(f"unsupported mode {mode!r}")

    def cat_file(self, path, start=None, end=None, **kwargs):
        i = self.info(path)
        if i["type"] != "file":
            raise IsADirectoryError(path)
        size = i["size"]
        start = 0 if start is None else (start + size if start < 0 else start)
        end = size if end is None else (end + size if end < 0 else min(end, size))
        if end <= start:
            return b""
        bid, _ = self._split(path)
        return self.api.read_bucket_range(bid, i["xet_hash"], start, end - start)

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        if os.path.isdir(lpath):
            os.makedirs(lpath, exist_ok=True)
            return
        i = self.info(rpath)
        if i["type"] != "file":
            os.makedirs(lpath, exist_ok=True)
            return
        bid, rel = self._split(rpath)
        mt = int(i["mtime"].timestamp() * 1000) if i.get("mtime") else -1
        c = self.api._c()
        st = _lib.TransferStats()
        import ctypes
        _lib.check(_lib.lib.bk_download_hash(c.h, _lib.b(bid), _lib.b(i["xet_hash"]), i["size"], mt,
                                             _lib.b(os.fspath(lpath)), ctypes.byref(st)),
                   f"download {rpath}", bucket_id=bid, path=rel)

    # -- writing -------------------------------------------------------------
    def _require_bucket_for_write(self, bid: str):
        try:
            self._check_bucket(bid)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{e}. Make sure the bucket exists.") from e

    def pipe_file(self, path, value, **kwargs):
        bid, rel = self._split(path)
        if not rel:
            raise IsADirectoryError(path)
        self._require_bucket_for_write(bid)
        with _fs_errors():
            self.api.batch_bucket_files(bid, add=[(bytes(value), rel)])
        self.invalidate_cache(path)

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        if os.path.isdir(lpath):
            return  # folders are implicit
        bid, rel = self._split(rpath)
        if not rel:
            rel = os.path.basename(lpath)
        self._require_bucket_for_write(bid)
        with _fs_errors():
            self.api.batch_bucket_files(bid, add=[(lpath, rel)])
        self.invalidate_cache(self._name(bid, rel))

    def put(self, lpath, rpath, recursive=False, callback=None, **kwargs):
        """Local file(s) -> bucket: one C upload (parallel, deduplicated) and one
        batch per destination bucket, instead of one per file."""
        from fsspec.implementations.local import LocalFileSystem, make_path_posix
        from fsspec.utils import other_paths
        rpath = self._strip_protocol(rpath)
        if isinstance(lpath, str):
            lpath = make_path_posix(lpath)
        lpaths = LocalFileSystem().expand_path(lpath, recursive=recursive)
        rpaths = other_paths(lpaths, rpath,
                             exists=isinstance(rpath, str) and self.isdir(rpath))
        by_bucket: dict = {}
        for lp, rp in zip(lpaths, rpaths):
            if os.path.isdir(lp):
                continue
            bid, rel = self._split(rp)
            by_bucket.setdefault(bid, []).append((lp, rel or os.path.basename(lp)))
        for bid, adds in by_bucket.items():
            self._require_bucket_for_write(bid)
            with _fs_errors():
                self.api.batch_bucket_files(bid, add=adds)
            self.invalidate_cache(self._name(bid, ""))
            self.dircache.clear()

    def copy(self, path1, path2, recursive=False, on_error=None, maxdepth=None, **kwargs):
        """Server-side copy of files (and folders, recursive=True): one paths-info
        per source bucket and one copyFile batch per destination bucket."""
        from fsspec.utils import other_paths
        if on_error is None:
            on_error = "ignore" if recursive else "raise"
        paths = self.expand_path(path1, recursive=recursive, maxdepth=maxdepth)
        targets = other_paths(paths, self._strip_protocol(path2))
        by_src: dict = {}
        for p1, p2 in zip(paths, targets):
            sbid, srel = self._split(p1)
            by_src.setdefault(sbid, []).append((srel, p2))
        ops: dict = {}
        for sbid, pairs in by_src.items():
            try:
                found = {f.path: f for f in self.api.get_bucket_paths_info(sbid, [r for r, _ in pairs if r])}
            except BucketNotFoundError as e:
                raise FileNotFoundError(f"bucket {sbid} not found") from e
            for srel, p2 in pairs:
                f = found.get(srel)
                if f is None:
                    if on_error == "raise" and not self.isdir(self._name(sbid, srel)):
                        raise FileNotFoundError(self._name(sbid, srel))
                    continue  # folders are implicit
                dbid, drel = self._split(p2)
                if not drel:
                    raise IsADirectoryError(p2)
                ops.setdefault(dbid, []).append(("bucket", sbid, f.xet_hash, drel))
        for dbid, copies in ops.items():
            self._require_bucket_for_write(dbid)
            with _fs_errors():
                self.api.batch_bucket_files(dbid, copy=copies)
        self.dircache.clear()

    def cp_file(self, path1, path2, **kwargs):
        """Server-side copy: registers the source's Xet hash under path2."""
        i = self.info(path1)
        if i["type"] != "file":
            return  # folders are implicit; their files are copied one by one
        sbid, _ = self._split(path1)
        dbid, drel = self._split(path2)
        if not drel:
            raise IsADirectoryError(path2)
        self._require_bucket_for_write(dbid)
        with _fs_errors():
            self.api.batch_bucket_files(dbid, copy=[("bucket", sbid, i["xet_hash"], drel)])
        self.invalidate_cache(path2)

    def rm_file(self, path):
        bid, rel = self._split(path)
        if not rel:
            raise IsADirectoryError(path)
        with _fs_errors():
            self.api.delete_bucket_files(bid, [rel])
        self.invalidate_cache(path)

    def _rm(self, path):
        self.rm_file(path)

    def rm(self, path, recursive=False, maxdepth=None):
        paths = path if isinstance(path, list) else [path]
        by_bucket: dict = {}
        for p in paths:
            bid, rel = self._split(p)
            i = self.info(p)  # FileNotFoundError if missing
            if i["type"] == "file":
                by_bucket.setdefault(bid, []).append(rel)
                continue
            if not recursive:
                raise IsADirectoryError(f"{p} is a directory (use recursive=True)")
            # find() lists with the path as prefix and keeps only prefix/... paths:
            # "logs" never matches "logs.json" or "logs_backup/..."
            for name in self.find(p, maxdepth=maxdepth):
                by_bucket.setdefault(bid, []).append(self._split(name)[1])
        for bid, rels in by_bucket.items():
            with _fs_errors():
                self.api.delete_bucket_files(bid, rels)
        for p in paths:
            self.invalidate_cache(p)
        self.dircache.clear()


class HfBucketReadFile(AbstractBufferedFile):
    """Seekable reader. Sequential access is served from blocks of
    `block_size` bytes fetched ahead by background threads; a read that does
    not continue the previous one fetches exactly the requested range."""

    def __init__(self, fs: HfFileSystem, path: str, block_size: int):
        info = fs.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(path)
        self.bid, self.rel = fs._split(path)
        self.xet_hash = info["xet_hash"]
        self._blocks: dict = {}  # block index -> Future[bytes]
        self._last_end = -1
        self._seq = 0
        super().__init__(fs, path, mode="rb", block_size=block_size, cache_type="none",
                         size=info["size"])
        self.details = info

    def _read(self, start: int, end: int) -> bytes:
        return self.fs.api._read_range(self.bid, self.xet_hash, start, end - start)

    def _block(self, k: int):
        f = self._blocks.get(k)
        if f is None:
            bs = self.blocksize
            start = k * bs
            if start >= self.size:
                return None
            f = self.fs._pool.submit(self._read, start, min(self.size, start + bs))
            self._blocks[k] = f
        return f

    def _fetch_range(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if end <= start:
            return b""
        continues = start == self._last_end
        sequential = continues or start == 0
        self._seq = self._seq + 1 if continues else 0
        self._last_end = end
        if not sequential and not self._blocks:
            return bytes(self._read(start, end))
        if not sequential:
            # a jump: drop the read-ahead and serve this range directly
            for f in self._blocks.values():
                f.cancel()
            self._blocks.clear()
            return bytes(self._read(start, end))
        bs = self.blocksize
        k0, k1 = start // bs, (end - 1) // bs
        for k in range(k0, k1 + 1):  # submit every block of a large read first
            self._block(k)
        parts = []
        for k in range(k0, k1 + 1):
            data = self._block(k).result()
            lo = max(start, k * bs) - k * bs
            hi = min(end, (k + 1) * bs) - k * bs
            parts.append(memoryview(data)[lo:hi])
        for k in list(self._blocks):
            if k < k1:
                del self._blocks[k]
        if self._seq >= 1:  # prefetch once reads are seen to continue each other
            for k in range(k1 + 1, k1 + 1 + self.fs.prefetch):
                self._block(k)
        return b"".join(parts)  # one copy

    def close(self):
        for f in self._blocks.values():
            f.cancel()
        self._blocks.clear()
        super().close()


class HfBucketStreamFile(HfBucketReadFile):
    """block_size=0: a forward-only stream (read-ahead from the start)."""

    def seekable(self):
        return False

    def seek(self, loc, whence=0):
        target = {0: loc, 1: self.loc + loc, 2: self.size + loc}.get(whence)
        if target != self.loc:
            raise ValueError("cannot seek a streaming file (opened with block_size=0)")
        return self.loc


class HfBucketWriteFile(AbstractBufferedFile):
    """Writer: bytes are spooled in memory up to `fs.spool_memory` bytes, then to a
    local temp file; close() uploads them (chunked and deduplicated in C) and
    registers the file with one addFile, so readers see either the previous file
    or the complete new one."""

    def __init__(self, fs: HfFileSystem, path: str, mode: str, block_size: int):
        self.bid, self.rel = fs._split(path)
        if not self.rel:
            raise IsADirectoryError(path)
        fs._require_bucket_for_write(self.bid)
        super().__init__(fs, path, mode=mode, block_size=block_size)
        self._mem = bytearray()
        self._tmp = None

    def _initiate_upload(self):
        pass

    def _spool(self, data) -> None:
        if self._tmp is None and len(self._mem) + len(data) <= self.fs.spool_memory:
            self._mem += data
            return
        if self._tmp is None:
            self._tmp = tempfile.NamedTemporaryFile(prefix="hffs-", suffix=".part", delete=False)
            self._tmp.write(self._mem)
            self._mem = bytearray()
        self._tmp.write(data)

    def write(self, data):
        """Appends straight to the spool (no intermediate block buffer)."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self.forced:
            raise ValueError("This file has been force-flushed, can only close")
        mv = memoryview(data).cast("B")
        self._spool(mv)
        self.loc += len(mv)
        return len(mv)

    def _upload_chunk(self, final=False):
        data = self.buffer.getbuffer()
        if len(data):
            self._spool(data)
        del data
        if final:
            try:
                with _fs_errors():
                    if self._tmp is None:
                        self.fs.api.batch_bucket_files(self.bid, add=[(self._mem, self.rel)])
                    else:
                        self._tmp.close()
                        self.fs.api.batch_bucket_files(self.bid, add=[(self._tmp.name, self.rel)])
            finally:
                self.discard()
            self.fs.invalidate_cache(self.path)
        return True

    def discard(self):
        self._mem = bytearray()
        if self._tmp is not None:
            try:
                self._tmp.close()
                os.unlink(self._tmp.name)
            except OSError:
                pass
            self._tmp = None

    def __del__(self):
        if not getattr(self, "closed", True):
            self.discard()


# The `fsspec.specs` entry point registers "hf" without an import when the package is
# installed; importing it (e.g. from a PYTHONPATH checkout) registers it as well.
fsspec.register_implementation("hf", HfFileSystem, clobber=True)

hffs = HfFileSystem()
