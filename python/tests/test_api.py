"""HfApi / module-level bucket functions against a real bucketd."""
import json
import os
import subprocess
import time
import warnings
from datetime import datetime

import pytest

import hfbuckets
from hfbuckets import (BucketFile, BucketFolder, BucketInfo, BucketNotFoundError, BucketUrl,
                       EntryNotFoundError, HfApi, HfHubHTTPError, SyncOperation, SyncPlan)
from conftest import new_name


def test_create_info_list_delete(api):
    bid = f"alice/{new_name()}"
    url = api.create_bucket(bid, private=True)
    assert isinstance(url, BucketUrl)
    assert url.bucket_id == bid and url.namespace == "alice"
    assert url.handle == f"hf://buckets/{bid}" and str(url.uri) == url.handle
    assert url.url.endswith(f"/buckets/{bid}") and url.endpoint == os.environ["HF_ENDPOINT"]
    info = api.bucket_info(bid)
    assert isinstance(info, BucketInfo)
    assert (info.id, info.private, info.size, info.total_files) == (bid, True, 0, 0)
    assert isinstance(info.created_at, datetime)
    assert bid in [b.id for b in api.list_buckets("alice")]
    assert bid in [b.id for b in api.list_buckets()]  # namespace None -> me
    assert [b.id for b in api.list_buckets("alice", search=bid.split("/")[1])] == [bid]
    with pytest.raises(HfHubHTTPError) as e:
        api.create_bucket(bid)
    assert e.value.status_code == 409
    assert api.create_bucket(bid, exist_ok=True).bucket_id == bid
    assert api.create_bucket(f"hf://buckets/{bid}", exist_ok=True).bucket_id == bid
    api.delete_bucket(bid)
    with pytest.raises(BucketNotFoundError):
        api.bucket_info(bid)
    with pytest.raises(BucketNotFoundError):
        api.delete_bucket(bid)
    api.delete_bucket(bid, missing_ok=True)


def test_create_bare_name_goes_to_my_namespace(api):
    name = new_name()
    url = api.create_bucket(name)
    assert url.bucket_id == f"alice/{name}"
    api.delete_bucket(url.bucket_id)


def test_bad_ids_rejected(api):
    for bad in ["hf://buckets/alice", "alice/b/extra/path", "hf://buckets/alice/b@v1"]:
        with pytest.raises(ValueError):
            api.bucket_info(bad)


def test_move_and_settings(api, anon):
    bid = f"alice/{new_name()}"
    api.create_bucket(bid)
    to = f"alice/{new_name('moved')}"
    api.move_bucket(bid, to)
    with pytest.raises(BucketNotFoundError):
        api.bucket_info(bid)
    assert api.bucket_info(to).id == to
    assert anon.bucket_info(to).private is False
    api.update_bucket_settings(to, private=True)
    assert api.bucket_info(to).private is True
    with pytest.raises(BucketNotFoundError):
        anon.bucket_info(to)
    api.update_bucket_settings(to, private=False)
    assert anon.bucket_info(to).private is False
    api.delete_bucket(to)


def test_private_bucket_refused_to_others(api, bob, anon):
    bid = f"alice/{new_name('priv')}"
    api.create_bucket(bid, private=True)
    api.batch_bucket_files(bid, add=[(b"secret", "s.txt")])
    for other in (bob, anon):
        with pytest.raises(BucketNotFoundError):
            other.bucket_info(bid)
        with pytest.raises(BucketNotFoundError):
            list(other.list_bucket_tree(bid))
        with pytest.raises((BucketNotFoundError, HfHubHTTPError)):
            other.batch_bucket_files(bid, add=[(b"x", "x.txt")])
        assert bid not in [b.id for b in other.list_buckets("alice")]
    # bob cannot write into alice's public bucket either
    pub = f"alice/{new_name('pub')}"
    api.create_bucket(pub)
    with pytest.raises(HfHubHTTPError):
        bob.batch_bucket_files(pub, add=[(b"x", "x.txt")])
    with pytest.raises(HfHubHTTPError):
        bob.delete_bucket(pub)
    assert anon.bucket_info(pub).id == pub
    api.delete_bucket(pub)
    api.delete_bucket(bid)


def test_batch_tree_paths_info(api, bucket, tmp_path):
    p = tmp_path / "local.bin"
    p.write_bytes(os.urandom(300_000))
    os.utime(p, (1_700_000_000, 1_700_000_000))
    api.batch_bucket_files(bucket, add=[(str(p), "data/local.bin"), (b"hello", "data/sub/h.txt"),
                                        (b"", "empty.txt"), (p, "top.bin")])
    top = list(api.list_bucket_tree(bucket, recursive=False))
    assert {(type(e), e.path) for e in top} == {(BucketFolder, "data"), (BucketFile, "empty.txt"),
                                                 (BucketFile, "top.bin")}
    # recursive left out: every nested file, as on the Hub ("List all files")
    default = list(api.list_bucket_tree(bucket))
    assert sorted(e.path for e in default) == ["data/local.bin", "data/sub/h.txt", "empty.txt",
                                               "top.bin"]
    assert all(isinstance(e, BucketFile) for e in default)
    assert sorted(e.path for e in api.list_bucket_tree(bucket, prefix="data")) == [
        "data/local.bin", "data/sub/h.txt"]
    rec = {e.path: e for e in api.list_bucket_tree(bucket, recursive=True) if e.type == "file"}
    assert set(rec) == {"data/local.bin", "data/sub/h.txt", "empty.txt", "top.bin"}
    f = rec["data/local.bin"]
    assert f.size == 300_000 and len(f.xet_hash) == 64
    assert f.mtime.timestamp() == pytest.approx(1_700_000_000, abs=1)
    assert isinstance(f.uploaded_at, datetime)
    assert rec["top.bin"].xet_hash == f.xet_hash  # same content, same hash
    sub = [e.path for e in api.list_bucket_tree(bucket, prefix="data", recursive=True)]
    assert sorted(sub) == ["data/local.bin", "data/sub/h.txt"]
    infos = list(api.get_bucket_paths_info(bucket, ["data/sub/h.txt", "missing.txt", "empty.txt"]))
    assert sorted(i.path for i in infos) == ["data/sub/h.txt", "empty.txt"]
    assert all(isinstance(i, BucketFile) for i in infos)
    md = api.get_bucket_file_metadata(bucket, "data/sub/h.txt")
    assert md.size == 5 and len(md.xet_file_data.file_hash) == 64
    with pytest.raises(EntryNotFoundError):
        api.get_bucket_file_metadata(bucket, "nope")
    info = api.bucket_info(bucket)
    assert info.total_files == 4 and info.size == 600_005


def test_batch_copy_and_delete_in_one_call(api, bucket):
    api.batch_bucket_files(bucket, add=[(b"one", "a.txt"), (b"two", "b.txt")])
    h = next(api.get_bucket_paths_info(bucket, ["a.txt"])).xet_hash
    api.batch_bucket_files(bucket, add=[(b"three", "c.txt")],
                           copy=[("bucket", bucket, h, "copy/a.txt")], delete=["b.txt"])
    paths = {e.path: e for e in api.list_bucket_tree(bucket, recursive=True)}
    assert set(paths) == {"a.txt", "c.txt", "copy/a.txt"}
    assert paths["copy/a.txt"].xet_hash == h
    api.batch_bucket_files(bucket, delete=["a.txt", "c.txt"])
    assert [e.path for e in api.list_bucket_tree(bucket, recursive=True)] == ["copy/a.txt"]


def test_dedup_second_upload_sends_nothing_new(api, bucket, tmp_path):
    data = os.urandom(4 << 20)
    api.batch_bucket_files(bucket, add=[(data, "v1.bin")])
    first = dict(api.last_transfer)
    api.batch_bucket_files(bucket, add=[(data[:3 << 20] + b"x" + data[3 << 20:], "v2.bin")])
    second = api.last_transfer
    assert first["bytes_sent"] > 3 << 20
    assert second["bytes_dedup"] >= 2 << 20
    assert second["bytes_sent"] < first["bytes_sent"] / 2


def test_download_bucket_files(api, bucket, tmp_path):
    data = os.urandom(200_000)
    api.batch_bucket_files(bucket, add=[(data, "d/x.bin"), (b"small", "s.txt")])
    f = next(api.get_bucket_paths_info(bucket, ["s.txt"]))
    (tmp_path / "exists.txt").write_bytes(b"a much longer previous content")
    api.download_bucket_files(bucket, [("d/x.bin", tmp_path / "out" / "x.bin"),
                                       (f, str(tmp_path / "exists.txt"))])
    assert (tmp_path / "out" / "x.bin").read_bytes() == data
    assert (tmp_path / "exists.txt").read_bytes() == b"small"  # truncated, not merged
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        api.download_bucket_files(bucket, [("nope.txt", tmp_path / "n.txt")])
    assert w and "nope.txt" in str(w[0].message)
    assert not (tmp_path / "n.txt").exists()
    with pytest.raises(EntryNotFoundError):
        api.download_bucket_files(bucket, [("nope.txt", tmp_path / "n.txt")],
                                  raise_on_missing_files=True)


def test_copy_files(api, bucket):
    other = f"alice/{new_name('dst')}"
    api.create_bucket(other)
    api.batch_bucket_files(bucket, add=[(b"w1", "models/w1.bin"), (b"w2", "models/sub/w2.bin"),
                                        (b"cfg", "config.json")])
    api.copy_files(f"hf://buckets/{bucket}/config.json", f"hf://buckets/{other}/")
    api.copy_files(f"hf://buckets/{bucket}/models", f"hf://buckets/{other}/backup")
    api.copy_files(f"hf://buckets/{bucket}/models/", f"hf://buckets/{other}/flat")
    api.copy_files(f"hf://buckets/{bucket}/config.json", f"hf://buckets/{other}/renamed.json")
    got = sorted(e.path for e in api.list_bucket_tree(other, recursive=True))
    assert got == ["backup/models/sub/w2.bin", "backup/models/w1.bin", "config.json",
                   "flat/sub/w2.bin", "flat/w1.bin", "renamed.json"]
    with pytest.raises(ValueError, match="Bucket-to-repo"):
        api.copy_files(f"hf://buckets/{bucket}/config.json", "hf://datasets/alice/d/x")
    with pytest.raises(EntryNotFoundError):
        api.copy_files(f"hf://buckets/{bucket}/nothing", f"hf://buckets/{other}/")
    api.delete_bucket(other)


def test_copy_from_a_repository_is_refused_clearly(api, bucket):
    import inspect
    # the official signatures are kept
    assert list(inspect.signature(api.copy_files).parameters) == ["source", "destination", "token"]
    assert list(inspect.signature(api.batch_bucket_files).parameters) == [
        "bucket_id", "add", "copy", "delete", "token"]
    for src in ("hf://datasets/alice/d/data/", "hf://models/alice/m/w.bin", "hf://spaces/alice/s/app.py"):
        with pytest.raises(ValueError, match="repositories .*are not supported by this server"):
            api.copy_files(src, f"hf://buckets/{bucket}/x/")
    h = "0" * 64
    for kind in ("model", "dataset", "space", "models"):
        with pytest.raises(ValueError, match="repositories are not supported by this server"):
            api.batch_bucket_files(bucket, copy=[(kind, "alice/m", h, "w.bin")])
    assert list(api.list_bucket_tree(bucket)) == []


def _tree(tmp, files):
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_sync_upload_download_delete(api, bucket, tmp_path, capsys):
    src = tmp_path / "src"
    _tree(src, {"a.txt": b"a", "d/b.bin": os.urandom(70_000), "d/e/c.txt": b"c", "skip.log": b"l"})
    uri = f"hf://buckets/{bucket}/ck"
    plan = api.sync_bucket(str(src), uri, exclude=["*.log"], quiet=True)
    assert isinstance(plan, SyncPlan)
    assert all(isinstance(o, SyncOperation) for o in plan.operations)
    assert plan.summary() == {"uploads": 3, "downloads": 0, "deletes": 0, "skips": 0,
                              "total_size": 70_002}
    assert {o.path for o in plan.operations} == {"a.txt", "d/b.bin", "d/e/c.txt"}
    assert all(o.reason == "new file" for o in plan.operations)
    remote = sorted(e.path for e in api.list_bucket_tree(bucket, recursive=True))
    assert remote == ["ck/a.txt", "ck/d/b.bin", "ck/d/e/c.txt"]
    again = api.sync_bucket(str(src), uri, exclude=["*.log"], quiet=True)
    assert again.summary()["uploads"] == 0 and again.summary()["skips"] == 3
    # download into a new directory, then --delete a local extra
    dst = tmp_path / "dst"
    p = api.sync_bucket(uri, str(dst), quiet=True)
    assert p.summary()["downloads"] == 3
    assert (dst / "d" / "b.bin").read_bytes() == (src / "d" / "b.bin").read_bytes()
    (dst / "extra.txt").write_bytes(b"x")
    p = api.sync_bucket(uri, str(dst), delete=True, quiet=True)
    assert [(o.action, o.path) for o in p.operations if o.action == "delete"] == [("delete", "extra.txt")]
    assert not (dst / "extra.txt").exists()
    # upload with delete removes the remote file that is gone locally
    (src / "a.txt").unlink()
    p = api.sync_bucket(str(src), uri, delete=True, exclude=["*.log"], quiet=True)
    assert [o.path for o in p.operations if o.action == "delete"] == ["a.txt"]
    assert "ck/a.txt" not in [e.path for e in api.list_bucket_tree(bucket, recursive=True)]


def test_sync_options(api, bucket, tmp_path, capsys):
    src = tmp_path / "s"
    _tree(src, {"keep.txt": b"k", "x.tmp": b"t", "sub/y.txt": b"y"})
    uri = f"hf://buckets/{bucket}"
    ff = tmp_path / "filters"
    ff.write_text("# comment\n- *.tmp\n+ *.txt\n")
    p = api.sync_bucket(str(src), uri, filter_from=str(ff), dry_run=True)
    out = capsys.readouterr().out
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert lines[0]["type"] == "header" and lines[0]["summary"]["uploads"] == 2
    assert {o.path for o in p.operations} == {"keep.txt", "sub/y.txt"}
    assert list(api.list_bucket_tree(bucket, recursive=True)) == []  # dry run: nothing sent
    p = api.sync_bucket(str(src), uri, include=["sub/*"], quiet=True)
    assert [o.path for o in p.operations] == ["sub/y.txt"]
    p = api.sync_bucket(str(src), uri, existing=True, quiet=True, dry_run=True)
    assert {(o.action, o.reason) for o in p.operations} >= {("skip", "new file (--existing)")}
    p = api.sync_bucket(str(src), uri, ignore_existing=True, quiet=True, dry_run=True)
    assert {(o.path, o.action) for o in p.operations if o.path == "sub/y.txt"} == {("sub/y.txt", "skip")}
    remote_mtime = next(api.get_bucket_paths_info(bucket, ["sub/y.txt"])).mtime.timestamp()
    (src / "sub" / "y.txt").write_bytes(b"yy")
    os.utime(src / "sub" / "y.txt", (remote_mtime + 0.3, remote_mtime + 0.3))  # inside the 1 s window
    p = api.sync_bucket(str(src), uri, ignore_sizes=True, include=["sub/*"], quiet=True, dry_run=True)
    assert p.operations[0].action == "skip"  # same mtime window, size ignored
    p = api.sync_bucket(str(src), uri, ignore_times=True, include=["sub/*"], quiet=True, dry_run=True)
    assert (p.operations[0].action, p.operations[0].reason) == ("upload", "size differs")
    for bad in [dict(ignore_times=True, ignore_sizes=True), dict(existing=True, ignore_existing=True),
                dict(dry_run=True, plan=str(tmp_path / "p"))]:
        with pytest.raises(ValueError):
            api.sync_bucket(str(src), uri, **bad)
    with pytest.raises(ValueError):
        api.sync_bucket(str(src), str(tmp_path / "other"))  # neither side remote
    with pytest.raises(ValueError):
        api.sync_bucket(apply=str(ff), delete=True)


def test_sync_plan_then_apply(api, bucket, tmp_path, capsys):
    src = tmp_path / "s"
    _tree(src, {"a.bin": os.urandom(1000), "b/c.bin": os.urandom(2000)})
    uri = f"hf://buckets/{bucket}/p"
    planfile = tmp_path / "plan.jsonl"
    p = api.sync_bucket(str(src), uri, plan=str(planfile), quiet=True)
    assert planfile.exists() and p.summary()["uploads"] == 2
    assert list(api.list_bucket_tree(bucket, recursive=True)) == []  # plan only
    header = json.loads(planfile.read_text().splitlines()[0])
    assert header["source"] == str(src) and header["dest"] == uri
    applied = api.sync_bucket(apply=str(planfile), quiet=True)
    assert applied.summary() == p.summary()
    assert sorted(e.path for e in api.list_bucket_tree(bucket, recursive=True)) == ["p/a.bin", "p/b/c.bin"]
    # a source that changed after planning refuses the plan (unless force)
    (src / "a.bin").write_bytes(os.urandom(1000))
    os.utime(src / "a.bin", (time.time() + 10, time.time() + 10))
    api.sync_bucket(str(src), uri, plan=str(planfile), quiet=True)
    (src / "a.bin").write_bytes(os.urandom(1500))
    with pytest.raises(hfbuckets.SyncPlanStaleError):
        api.sync_bucket(apply=str(planfile), quiet=True)
    api.sync_bucket(apply=str(planfile), force=True, quiet=True)


def test_sync_verbose_prints_status(api, bucket, tmp_path, capsys):
    src = tmp_path / "s"
    _tree(src, {"a.txt": b"a"})
    api.sync_bucket(str(src), f"hf://buckets/{bucket}", verbose=True)
    out = capsys.readouterr().out
    assert "Uploading" in out and "a.txt" in out


def test_sync_matches_cli(api, bucket, tmp_path):
    """Same planner: Python's plan equals `hf buckets sync --dry-run`."""
    src = tmp_path / "s"
    _tree(src, {"x/1.bin": os.urandom(5000), "2.txt": b"two"})
    uri = f"hf://buckets/{bucket}/cli"
    api.batch_bucket_files(bucket, add=[(b"stale", "cli/old.txt")])
    py = api.sync_bucket(str(src), uri, delete=True, dry_run=True, quiet=True)
    out = subprocess.run([os.environ["BK_HF"], "buckets", "sync", str(src), uri, "--delete",
                          "--dry-run"], capture_output=True, text=True, check=True).stdout
    cli = SyncPlan.from_jsonl(out)
    strip = lambda p: [(o.action, o.path, o.size, o.reason) for o in p.operations]  # noqa: E731
    assert strip(py) == strip(cli)
    assert py.summary() == cli.summary() == {"uploads": 2, "downloads": 0, "deletes": 1, "skips": 0,
                                              "total_size": 5003}


def test_module_level_functions_use_env(bucket):
    # HF_ENDPOINT and HF_TOKEN (alice) come from the environment, like the CLI
    assert hfbuckets.whoami()["name"] == "alice"
    assert hfbuckets.bucket_info(bucket).id == bucket
    hfbuckets.batch_bucket_files(bucket, add=[(b"m", "m.txt")])
    assert [f.path for f in hfbuckets.list_bucket_tree(bucket)] == ["m.txt"]


def test_token_file_used_when_no_env_token(tmp_path, bucket):
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text(os.environ["BK_TOKEN_BOB"] + "\n")
    code = ("import hfbuckets; print(hfbuckets.whoami()['name'])")
    env = dict(os.environ, HF_HOME=str(home))
    env.pop("HF_TOKEN")
    out = subprocess.run([__import__("sys").executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "bob"
    # explicit token=False is anonymous even with a token available
    with pytest.raises(HfHubHTTPError) as e:
        HfApi(token=False).whoami()
    assert e.value.status_code == 401


def test_read_only_token_cannot_write(bucket):
    api = HfApi(token=os.environ["BK_TOKEN_ALICE_READ"])
    assert api.bucket_info(bucket).id == bucket
    with pytest.raises(HfHubHTTPError) as e:
        api.batch_bucket_files(bucket, add=[(b"x", "x.txt")])
    assert e.value.status_code in (401, 403)


def test_dataclasses_accept_hub_json_and_keywords():
    f = BucketFile(type="file", path="a/b.bin", size=3, xetHash="ab" * 32,
                   mtime="2026-01-02T03:04:05.678Z", uploadedAt="2026-01-02T03:04:06Z")
    assert (f.path, f.size, f.xet_hash, f.type) == ("a/b.bin", 3, "ab" * 32, "file")
    assert f.mtime.year == 2026 and f.uploaded_at.second == 6
    assert BucketFile(path="x", size=1, xet_hash="h").xet_hash == "h"
    d = BucketFolder(type="directory", path="a")
    assert (d.type, d.path, d.uploaded_at) == ("directory", "a", None)
    u = BucketUrl(url="http://127.0.0.1:1/buckets/ns/name", endpoint="http://127.0.0.1:1")
    assert (u.namespace, u.bucket_id, u.handle) == ("ns", "ns/name", "hf://buckets/ns/name")
    with pytest.raises(ValueError):
        BucketUrl(url="http://127.0.0.1:1/buckets/ns", endpoint="http://127.0.0.1:1")
    i = BucketInfo(id="ns/b", private=True, createdAt="2026-01-01T00:00:00Z", size=5, totalFiles=2,
                   storedSize=3)
    assert (i.id, i.private, i.size, i.total_files, i.storedSize) == ("ns/b", True, 5, 2, 3)
    plan = SyncPlan(source="./a", dest="hf://buckets/ns/b", timestamp="t", operations=[
        SyncOperation(action="upload", path="x", size=4, reason="new file"),
        SyncOperation(action="skip", path="y", size=9, reason="identical"),
        SyncOperation(action="delete", path="z", size=1, reason="not in source (--delete)")])
    assert plan.summary() == {"uploads": 1, "downloads": 0, "deletes": 1, "skips": 1, "total_size": 4}
    again = SyncPlan.from_jsonl(plan.to_jsonl())
    assert again.operations == plan.operations and again.summary() == plan.summary()


def test_sync_prints_summary_unless_quiet(api, bucket, tmp_path, capsys):
    src = tmp_path / "s"
    _tree(src, {"a.txt": b"a", "b.txt": b"b"})
    api.sync_bucket(str(src), f"hf://buckets/{bucket}")
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Sync plan: {src} -> hf://buckets/{bucket}", "  Uploads: 2", "  Downloads: 0",
                   "  Deletes: 0", "  Skips: 0", "Sync completed."]
    api.sync_bucket(str(src), f"hf://buckets/{bucket}")
    assert capsys.readouterr().out.splitlines()[-1] == "Nothing to sync."
    api.sync_bucket(str(src), f"hf://buckets/{bucket}", quiet=True)
    assert capsys.readouterr().out == ""


def test_hub_web_urls_are_accepted(api, bucket):
    ep = os.environ["HF_ENDPOINT"]
    assert api.bucket_info(f"{ep}/buckets/{bucket}").id == bucket
    assert api.bucket_info(f"{ep}/buckets/{bucket}/").id == bucket
    api.batch_bucket_files(f"{ep}/buckets/{bucket}", add=[(b"web", "dir/a b.txt")])
    api.copy_files(f"{ep}/buckets/{bucket}/resolve/dir/a%20b.txt", f"{ep}/buckets/{bucket}/tree/copy/")
    assert sorted(e.path for e in api.list_bucket_tree(bucket)) == ["copy/a b.txt", "dir/a b.txt"]
    with pytest.raises(ValueError, match="configured endpoint"):
        api.bucket_info(f"https://huggingface.co/buckets/{bucket}")
    with pytest.raises(ValueError, match="/tree/PATH or /resolve/PATH"):
        api.copy_files(f"{ep}/buckets/{bucket}/blob/dir/x", f"hf://buckets/{bucket}/")
    with pytest.raises(ValueError, match="without a path"):
        api.bucket_info(f"{ep}/buckets/{bucket}/tree/dir")


def test_client_opts_version_checked():
    """ClientOpts mirrors bk_client_opts by hand: its version field must match
    BK_CLIENT_OPTS_VERSION, and the library refuses any other layout."""
    import ctypes
    from hfbuckets import _lib
    h = ctypes.c_void_p()
    opts = _lib.ClientOpts()
    opts.token = b""
    opts.version = _lib.CLIENT_OPTS_VERSION + 1
    assert _lib.lib.bk_client_new(ctypes.byref(opts), ctypes.byref(h)) == -5  # BK_EVERSION
    assert b"BK_CLIENT_OPTS_INIT" in _lib.lib.bk_errmsg()
    assert not h.value
    opts.version = _lib.CLIENT_OPTS_VERSION
    assert _lib.lib.bk_client_new(ctypes.byref(opts), ctypes.byref(h)) == 0
    assert h.value
    _lib.lib.bk_client_free(h)
