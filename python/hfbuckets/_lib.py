"""ctypes binding to libbuckets (the C client library).

Everything that moves bytes (Xet chunking, dedup, xorb upload, reconstruction
download), the sync planner and the Hub HTTP calls run in C; this module only
declares signatures, owns `bk_client` handles and converts C errors into
Python exceptions (see errors.py).

Library lookup: $BUCKETS_LIB (path to libbuckets.so), else
<repo>/build/lib/libbuckets.so relative to this package's source checkout.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import weakref
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double,
                    c_int, c_int64, c_size_t, c_uint, c_uint64, c_void_p)
from pathlib import Path
from typing import Optional

from . import errors

_here = Path(__file__).resolve().parent
_REPO = _here.parent.parent


def _find_lib() -> str:
    env = os.environ.get("BUCKETS_LIB")
    if env:
        if not os.path.isfile(env):
            raise ImportError(f"BUCKETS_LIB={env} does not exist")
        return env
    cand = _REPO / "build" / "lib" / "libbuckets.so"
    if cand.is_file():
        return str(cand)
    raise ImportError(
        "libbuckets.so not found: run `make` in the repository or set BUCKETS_LIB "
        f"(looked for {cand})")


# BK_CLIENT_OPTS_VERSION in include/buckets/client.h: the layout mirrored by
# ClientOpts. bk_client_new refuses another version (BK_EVERSION), so a
# library whose struct changed fails loudly instead of misreading fields.
CLIENT_OPTS_VERSION = 1


class ClientOpts(Structure):
    _fields_ = [("version", c_uint), ("endpoint", c_char_p), ("token", c_char_p), ("hf_home", c_char_p),
                ("parallel", c_uint), ("timeout_s", c_uint), ("retries", c_uint),
                ("no_global_dedup", c_int), ("no_shard_cache", c_int)]


class TransferStats(Structure):
    _fields_ = [("files", c_uint64), ("bytes", c_uint64), ("bytes_sent", c_uint64),
                ("bytes_dedup", c_uint64), ("bytes_received", c_uint64),
                ("xorbs_sent", c_uint64), ("xorbs_existing", c_uint64),
                ("dedup_queries", c_uint64), ("seconds", c_double)]

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name, _ in self._fields_}


class UploadItem(Structure):
    _fields_ = [("local_path", c_char_p), ("data", c_void_p), ("len", c_size_t),
                ("remote_path", c_char_p), ("mtime_ms", c_int64)]


class SyncOpts(Structure):
    _fields_ = [("source", c_char_p), ("dest", c_char_p), ("delete_files", c_int),
                ("ignore_times", c_int), ("ignore_sizes", c_int), ("existing", c_int),
                ("ignore_existing", c_int), ("include", POINTER(c_char_p)),
                ("n_include", c_size_t), ("exclude", POINTER(c_char_p)),
                ("n_exclude", c_size_t), ("filter_from", c_char_p), ("verbose", c_int)]


LOG_CB = CFUNCTYPE(None, c_void_p, c_int, c_char_p)

lib = ctypes.CDLL(_find_lib())
LIB_PATH = lib._name

_sigs = {
    "bk_client_new": (c_int, [POINTER(ClientOpts), POINTER(c_void_p)]),
    "bk_client_free": (None, [c_void_p]),
    "bk_client_endpoint": (c_char_p, [c_void_p]),
    "bk_client_has_token": (c_int, [c_void_p]),
    "bk_free": (None, [c_void_p]),
    "bk_strerror": (c_char_p, [c_int]),
    "bk_errmsg": (c_char_p, []),
    "bk_client_set_log": (None, [c_void_p, LOG_CB, c_void_p]),
    "bk_token_resolve": (c_void_p, [c_char_p]),
    "bk_whoami": (c_int, [c_void_p, POINTER(c_void_p)]),
    "bk_bucket_create": (c_int, [c_void_p, c_char_p, c_int, c_char_p, c_int, POINTER(c_void_p)]),
    "bk_bucket_info": (c_int, [c_void_p, c_char_p, POINTER(c_void_p)]),
    "bk_bucket_list": (c_int, [c_void_p, c_char_p, c_char_p, POINTER(c_void_p)]),
    "bk_bucket_delete": (c_int, [c_void_p, c_char_p, c_int]),
    "bk_bucket_move": (c_int, [c_void_p, c_char_p, c_char_p]),
    "bk_bucket_settings": (c_int, [c_void_p, c_char_p, c_int]),
    "bk_bucket_update_settings": (c_int, [c_void_p, c_char_p, c_int, c_char_p, POINTER(c_void_p)]),
    "bk_bucket_prewarm": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, POINTER(c_void_p)]),
    "bk_bucket_tree": (c_int, [c_void_p, c_char_p, c_char_p, c_int, POINTER(c_void_p)]),
    "bk_bucket_paths_info": (c_int, [c_void_p, c_char_p, POINTER(c_char_p), c_size_t,
                                     POINTER(c_void_p)]),
    "bk_bucket_batch": (c_int, [c_void_p, c_char_p, c_char_p, POINTER(c_void_p)]),
    "bk_bucket_delete_files": (c_int, [c_void_p, c_char_p, POINTER(c_char_p), c_size_t]),
    "bk_bucket_copy": (c_int, [c_void_p, c_char_p, c_char_p]),
    "bk_upload": (c_int, [c_void_p, c_char_p, POINTER(UploadItem), c_size_t,
                          POINTER(TransferStats)]),
    "bk_xet_upload": (c_int, [c_void_p, c_char_p, POINTER(UploadItem), c_size_t,
                              c_void_p, POINTER(TransferStats)]),
    "bk_download": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, POINTER(TransferStats)]),
    "bk_download_hash": (c_int, [c_void_p, c_char_p, c_char_p, c_uint64, c_int64, c_char_p,
                                 POINTER(TransferStats)]),
    "bk_read_range": (c_int, [c_void_p, c_char_p, c_char_p, c_uint64, c_uint64, c_void_p,
                              POINTER(c_uint64)]),
    "bk_sync_plan_jsonl": (c_int, [c_void_p, POINTER(SyncOpts), POINTER(c_void_p)]),
    "bk_sync_apply_jsonl": (c_int, [c_void_p, c_char_p, c_int, POINTER(TransferStats)]),
    "bk_sync": (c_int, [c_void_p, POINTER(SyncOpts), POINTER(c_void_p), POINTER(TransferStats)]),
    "bk_uri_parse": (c_int, [c_char_p, c_int, POINTER(c_void_p), POINTER(c_void_p)]),
    "bk_path_under": (c_int, [c_char_p, c_char_p]),
}
for _name, (_res, _args) in _sigs.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


def b(s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    return os.fsencode(s) if isinstance(s, (str, os.PathLike)) else s


def take_str(p: c_void_p) -> str:
    """Copies a malloc'd C string into Python and frees it with bk_free."""
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        lib.bk_free(p)


def errmsg() -> str:
    return lib.bk_errmsg().decode("utf-8", "replace")


def check(rc: int, what: str = "", *, bucket_id: Optional[str] = None,
          path: Optional[str] = None) -> None:
    if rc == 0:
        return
    raise errors.from_code(rc, errmsg(), lib.bk_strerror(rc).decode(), what=what,
                           bucket_id=bucket_id, path=path)


def uri_parse(s: str, allow_short: bool = True) -> tuple[str, str]:
    """hf://buckets/ns/name[/path] (and ns/name[/path] if allow_short) -> (id, path)."""
    bid, path = c_void_p(), c_void_p()
    rc = lib.bk_uri_parse(b(s), 1 if allow_short else 0, ctypes.byref(bid), ctypes.byref(path))
    if rc:
        raise ValueError(f"invalid bucket URI {s!r}: {errmsg()}")
    return take_str(bid), take_str(path)


class Client:
    """One bk_client (one thread at a time; see ClientPool)."""

    def __init__(self, endpoint: Optional[str], token, hf_home: Optional[str] = None,
                 parallel: int = 0):
        opts = ClientOpts()
        opts.version = CLIENT_OPTS_VERSION
        opts.endpoint = b(endpoint)
        if token is False:
            opts.token = b""
        elif isinstance(token, str):
            opts.token = b(token)
        else:
            opts.token = None
        opts.hf_home = b(hf_home)
        opts.parallel = parallel
        h = c_void_p()
        check(lib.bk_client_new(ctypes.byref(opts), ctypes.byref(h)), "client")
        self.h = h
        self._log_cb = None

    @property
    def endpoint(self) -> str:
        return lib.bk_client_endpoint(self.h).decode()

    def close(self) -> None:
        if self.h is not None and self.h.value:
            lib.bk_client_free(self.h)
        self.h = None

    def set_log(self, fn) -> None:
        if fn is None:
            self._log_cb = LOG_CB()
        else:
            def cb(_ctx, level, line):
                try:
                    fn(level, line.decode("utf-8", "replace"))
                except Exception:  # never let an exception cross into C
                    pass
            self._log_cb = LOG_CB(cb)
        lib.bk_client_set_log(self.h, self._log_cb, None)


class ClientPool:
    """Per-thread bk_client handles, keyed by token choice.

    libbuckets allows one thread at a time per client; ctypes releases the GIL
    during C calls, so every Python thread gets its own handle."""

    def __init__(self, endpoint: Optional[str], hf_home: Optional[str] = None, parallel: int = 0):
        self.endpoint = endpoint
        self.hf_home = hf_home
        self.parallel = parallel
        self._local = threading.local()
        self._all: list[Client] = []
        self._mu = threading.Lock()
        self._pid = os.getpid()
        # frees every handle when the pool (its HfApi) is garbage-collected or at exit
        weakref.finalize(self, ClientPool._free_all, self._all)

    @staticmethod
    def _free_all(clients: list) -> None:
        for c in clients:
            c.close()
        clients.clear()

    def _after_fork(self) -> None:
        # A forked child (e.g. a DataLoader worker) must not reuse the parent's
        # curl connections: abandon the copied handles (never free them: their
        # sockets and threads belong to the parent) and start afresh.
        self._all.clear()
        self._local = threading.local()
        self._mu = threading.Lock()
        self._pid = os.getpid()

    def get(self, token) -> Client:
        if self._pid != os.getpid():
            self._after_fork()
        key = ("anon",) if token is False else ("tok", token) if isinstance(token, str) else ("default",)
        d = getattr(self._local, "clients", None)
        if d is None:
            d = self._local.clients = {}
        c = d.get(key)
        if c is None:
            c = Client(self.endpoint, token, self.hf_home, self.parallel)
            d[key] = c
            with self._mu:
                self._all.append(c)
        return c

    def close(self) -> None:
        with self._mu:
            ClientPool._free_all(self._all)
        self._local = threading.local()


def resolve_token(hf_home: Optional[str] = None) -> Optional[str]:
    p = lib.bk_token_resolve(b(hf_home))
    if not p:
        return None
    try:
        return ctypes.string_at(p).decode()
    finally:
        lib.bk_free(p)
