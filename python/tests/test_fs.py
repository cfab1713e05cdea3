"""HfFileSystem (fsspec, protocol hf) against a real bucketd."""
import os

import fsspec
import pytest

from hfbuckets import HfFileSystem


@pytest.fixture
def tree(api, bucket):
    api.batch_bucket_files(bucket, add=[
        (b"root", "root.txt"), (b"l1", "logs/a.txt"), (b"l2", "logs/deep/b.txt"),
        (b"{}", "logs.json"), (b"bk", "logs_backup/c.txt"), (b"p" * 10, "data/x.parquet"),
        (b"q" * 20, "data/part/y.parquet"), (b"cfg: 1\n", "config.yaml")])
    return f"buckets/{bucket}"


def test_ls_with_and_without_prefix(fs, tree):
    names = fs.ls(tree, detail=False)
    assert names == [f"{tree}/config.yaml", f"{tree}/data", f"{tree}/logs", f"{tree}/logs.json",
                     f"{tree}/logs_backup", f"{tree}/root.txt"]
    assert fs.ls("hf://" + tree + "/", detail=False) == names
    detail = {e["name"]: e for e in fs.ls(f"hf://{tree}/logs", detail=True)}
    assert set(detail) == {f"{tree}/logs/a.txt", f"{tree}/logs/deep"}  # no lexical siblings
    f = detail[f"{tree}/logs/a.txt"]
    assert f["type"] == "file" and f["size"] == 2 and len(f["xet_hash"]) == 64
    assert f["mtime"] is not None and f["uploaded_at"] is not None
    d = detail[f"{tree}/logs/deep"]
    assert d["type"] == "directory" and d["size"] == 0
    assert fs.ls(f"{tree}/root.txt", detail=False) == [f"{tree}/root.txt"]


def test_info_exists_isdir_isfile(fs, tree):
    assert fs.info(tree) == {"name": tree, "size": 0, "type": "directory"}
    i = fs.info(f"hf://{tree}/data/x.parquet")
    assert (i["name"], i["size"], i["type"]) == (f"{tree}/data/x.parquet", 10, "file")
    assert fs.info(f"{tree}/data/part")["type"] == "directory"
    assert fs.exists(f"{tree}/logs") and fs.isdir(f"{tree}/logs") and not fs.isfile(f"{tree}/logs")
    assert fs.isfile(f"{tree}/logs.json") and not fs.isdir(f"{tree}/logs.json")
    assert not fs.exists(f"{tree}/log") and not fs.exists(f"{tree}/nope/deeper")
    assert fs.size(f"{tree}/data/part/y.parquet") == 20
    assert fs.modified(f"{tree}/root.txt") is not None
    assert fs.ukey(f"{tree}/root.txt") == fs.info(f"{tree}/root.txt")["xet_hash"]
    assert fs.url(f"{tree}/root.txt").endswith(f"/{tree}/resolve/root.txt")


def test_missing_raises_file_not_found(fs, tree, bucket):
    missing = f"{tree}/does/not/exist.txt"
    for call in (lambda: fs.info(missing), lambda: fs.ls(missing), lambda: fs.cat(missing),
                 lambda: fs.open(missing, "rb"), lambda: fs.get(missing, "/tmp/never-written"),
                 lambda: fs.rm(missing), lambda: fs.ls("buckets/alice/no-such-bucket"),
                 lambda: fs.info("buckets/alice/no-such-bucket/x"),
                 lambda: fs.open("buckets/alice/no-such-bucket/x", "wb"),
                 lambda: fs.ls("hf://models/alice/repo")):
        with pytest.raises(FileNotFoundError):
            call()
    assert not os.path.exists("/tmp/never-written")
    with pytest.raises(FileNotFoundError):
        fsspec.open(f"hf://{missing}", "rb").open()


def test_glob_find_walk_du(fs, tree):
    assert fs.glob(f"{tree}/**/*.parquet") == [f"{tree}/data/part/y.parquet", f"{tree}/data/x.parquet"]
    assert fs.glob(f"hf://{tree}/*.json") == [f"{tree}/logs.json"]
    assert fs.glob(f"{tree}/logs/*") == [f"{tree}/logs/a.txt", f"{tree}/logs/deep"]
    assert fs.find(f"{tree}/logs") == [f"{tree}/logs/a.txt", f"{tree}/logs/deep/b.txt"]
    assert fs.find(f"{tree}/logs", withdirs=True) == [f"{tree}/logs", f"{tree}/logs/a.txt",
                                                      f"{tree}/logs/deep", f"{tree}/logs/deep/b.txt"]
    assert fs.find(f"{tree}/logs", maxdepth=1) == [f"{tree}/logs/a.txt"]
    assert len(fs.find(tree)) == 8
    walked = {root: (sorted(dirs), sorted(files)) for root, dirs, files in fs.walk(tree)}
    assert walked[tree] == (["data", "logs", "logs_backup"], ["config.yaml", "logs.json", "root.txt"])
    assert walked[f"{tree}/logs/deep"] == ([], ["b.txt"])
    assert fs.du(f"{tree}/data") == 30
    assert fs.du(tree) == 4 + 2 + 2 + 2 + 2 + 10 + 20 + 7


def test_read_text_and_ranges(fs, api, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    api.batch_bucket_files(bucket, add=[(data, "big.bin")])
    p = f"hf://buckets/{bucket}/big.bin"
    small = HfFileSystem(token=os.environ["HF_TOKEN"], block_size=256 * 1024,
                         skip_instance_cache=True)
    for f_s in (fs, small):
        with f_s.open(p, "rb") as f:
            assert f.read(10) == data[:10]
            assert f.read(300_000) == data[10:300_010]  # sequential: read-ahead path
            f.seek(2_000_000)
            assert f.read(1 << 20) == data[2_000_000:2_000_000 + (1 << 20)]  # jump
            f.seek(-5, 2)
            assert f.read() == data[-5:]
            assert f.read(10) == b""
            f.seek(0)
            assert f.read() == data
    assert fs.cat_file(p, start=100, end=200) == data[100:200]
    assert fs.cat_file(p, start=-10) == data[-10:]
    assert fs.read_block(p, 1000, 50) == data[1000:1050]
    api.batch_bucket_files(bucket, add=[(b"line1\nline2\n", "t.txt"), (b"", "empty")])
    with fs.open(f"buckets/{bucket}/t.txt", "r") as f:
        assert f.readlines() == ["line1\n", "line2\n"]
    assert fs.cat(f"buckets/{bucket}/empty") == b""


def test_write_put_get(fs, api, bucket, tmp_path):
    p = f"hf://buckets/{bucket}/out/w.bin"
    data = os.urandom(5 * 1024 * 1024)
    with fs.open(p, "wb", block_size=1024 * 1024) as f:
        for i in range(0, len(data), 700_000):
            f.write(data[i:i + 700_000])
        assert not fs.exists(p)  # not visible before close
    assert fs.cat(p) == data
    with fs.open(f"buckets/{bucket}/out/t.txt", "w") as f:
        f.write("héllo\n")
    assert fs.cat(f"buckets/{bucket}/out/t.txt") == "héllo\n".encode()
    fs.pipe(f"buckets/{bucket}/piped", b"piped!")
    assert fs.cat(f"buckets/{bucket}/piped") == b"piped!"
    local = tmp_path / "up"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_bytes(b"A")
    (local / "sub" / "b.txt").write_bytes(b"B")
    fs.put(str(local), f"buckets/{bucket}/up", recursive=True)
    assert sorted(fs.find(f"buckets/{bucket}/up")) == [f"buckets/{bucket}/up/a.txt",
                                                       f"buckets/{bucket}/up/sub/b.txt"]
    fs.put_file(str(local / "a.txt"), f"buckets/{bucket}/single.txt")
    assert fs.cat(f"buckets/{bucket}/single.txt") == b"A"
    fs.get(f"buckets/{bucket}/out/w.bin", str(tmp_path / "w.bin"))
    assert (tmp_path / "w.bin").read_bytes() == data
    fs.get(f"buckets/{bucket}/up", str(tmp_path / "down"), recursive=True)
    assert (tmp_path / "down" / "sub" / "b.txt").read_bytes() == b"B"
    with pytest.raises(NotImplementedError):
        fs.open(f"buckets/{bucket}/x", "ab")
    with pytest.raises(NotImplementedError):
        fs.start_transaction()


def test_write_dedups_unchanged_bytes(fs, api, bucket):
    data = os.urandom(8 * 1024 * 1024)
    with fs.open(f"buckets/{bucket}/ck1", "wb") as f:
        f.write(data)
    with fs.open(f"buckets/{bucket}/ck2", "wb") as f:
        f.write(data[:100] + b"changed" + data[107:])
    st = fs.api.last_transfer
    assert st["bytes_dedup"] > 6 * 1024 * 1024 and st["bytes_sent"] < 1024 * 1024


def test_rm_respects_path_boundaries(fs, tree):
    fs.rm(f"{tree}/logs", recursive=True)
    left = fs.find(tree)
    assert f"{tree}/logs.json" in left and f"{tree}/logs_backup/c.txt" in left
    assert not any(p.startswith(f"{tree}/logs/") for p in left)
    with pytest.raises(IsADirectoryError):
        fs.rm(f"{tree}/data")
    fs.rm(f"hf://{tree}/root.txt")
    assert not fs.exists(f"{tree}/root.txt")
    fs.rm([f"{tree}/config.yaml", f"{tree}/logs.json"])
    assert sorted(fs.ls(tree, detail=False)) == [f"{tree}/data", f"{tree}/logs_backup"]


def test_cp_is_server_side_and_mv(fs, api, tree, bucket):
    before = api.bucket_info(bucket)
    fs.cp(f"{tree}/data/x.parquet", f"{tree}/copy/x.parquet")
    assert fs.cat(f"{tree}/copy/x.parquet") == b"p" * 10
    assert fs.info(f"{tree}/copy/x.parquet")["xet_hash"] == fs.info(f"{tree}/data/x.parquet")["xet_hash"]
    fs.cp(f"{tree}/data", f"{tree}/data2", recursive=True)
    assert sorted(fs.find(f"{tree}/data2")) == [f"{tree}/data2/part/y.parquet", f"{tree}/data2/x.parquet"]
    after = api.bucket_info(bucket)
    # stored (deduplicated) bytes unchanged by copies
    if hasattr(before, "storedSize"):
        assert after.storedSize == before.storedSize
    other = f"alice/mvdst-{bucket.split('/')[1]}"
    api.create_bucket(other)
    fs.mv(f"{tree}/logs_backup/c.txt", f"hf://buckets/{other}/moved.txt")
    assert fs.cat(f"buckets/{other}/moved.txt") == b"bk"
    assert not fs.exists(f"{tree}/logs_backup/c.txt")
    api.delete_bucket(other)


def test_private_bucket_not_visible_via_fs(api, bucket):
    api.update_bucket_settings(bucket, private=True)
    api.batch_bucket_files(bucket, add=[(b"s", "s.txt")])
    for tok in (os.environ["BK_TOKEN_BOB"], False):
        other = HfFileSystem(token=tok, skip_instance_cache=True)
        with pytest.raises((FileNotFoundError, PermissionError)):
            other.ls(f"buckets/{bucket}")
        with pytest.raises((FileNotFoundError, PermissionError)):
            other.cat(f"buckets/{bucket}/s.txt")
        with pytest.raises((FileNotFoundError, PermissionError)):
            with other.open(f"buckets/{bucket}/w.txt", "wb") as f:
                f.write(b"x")
    mine = HfFileSystem(skip_instance_cache=True)
    assert mine.cat(f"buckets/{bucket}/s.txt") == b"s"


def test_put_and_copy_batch_many_files(fs, api, bucket, tmp_path):
    local = tmp_path / "many"
    for i in range(120):
        p = local / f"d{i % 4}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}")
    fs.put(str(local) + "/", f"hf://buckets/{bucket}/many/", recursive=True)
    got = fs.find(f"buckets/{bucket}/many")
    assert len(got) == 120 and f"buckets/{bucket}/many/d3/f119.txt" in got
    fs.copy(f"buckets/{bucket}/many", f"buckets/{bucket}/copied", recursive=True)
    copied = fs.find(f"buckets/{bucket}/copied")
    assert len(copied) == 120
    assert fs.cat(f"buckets/{bucket}/copied/d1/f5.txt") == b"file 5"
    with pytest.raises(FileNotFoundError):
        fs.copy(f"buckets/{bucket}/absent.txt", f"buckets/{bucket}/x.txt")
    fs.mv(f"buckets/{bucket}/copied", f"buckets/{bucket}/moved", recursive=True)
    assert len(fs.find(f"buckets/{bucket}/moved")) == 120
    assert not fs.exists(f"buckets/{bucket}/copied")


def test_writes_without_permission_raise_permission_error(api, bucket):
    api.batch_bucket_files(bucket, add=[(b"mine", "mine.txt")])
    bob = HfFileSystem(token=os.environ["BK_TOKEN_BOB"], skip_instance_cache=True)
    assert bob.cat(f"buckets/{bucket}/mine.txt") == b"mine"  # public: readable
    with pytest.raises(PermissionError):
        with bob.open(f"buckets/{bucket}/evil.txt", "wb") as f:
            f.write(b"x")
    with pytest.raises(PermissionError):
        bob.pipe(f"buckets/{bucket}/evil.txt", b"x")
    with pytest.raises(PermissionError):
        bob.rm(f"buckets/{bucket}/mine.txt")
    with pytest.raises(PermissionError):
        bob.cp(f"buckets/{bucket}/mine.txt", f"buckets/{bucket}/copy.txt")
    assert [e.path for e in api.list_bucket_tree(bucket)] == ["mine.txt"]


@pytest.mark.parametrize("spool", [0, 1 << 20, 64 << 20])
def test_write_spools_to_memory_or_disk(api, bucket, spool, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    fs = HfFileSystem(spool_memory=spool, skip_instance_cache=True)
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = f"buckets/{bucket}/spool-{spool}.bin"
    with fs.open(path, "wb", block_size=512 * 1024) as f:
        for i in range(0, len(data), 100_000):
            f.write(data[i:i + 100_000])
        spilled = [n for n in os.listdir(tmp_path) if n.startswith("hffs-")]
        assert bool(spilled) == (spool < len(data))
    assert fs.cat(path) == data
    assert [n for n in os.listdir(tmp_path) if n.startswith("hffs-")] == []  # temp file removed


def _child_read(path, q):
    from hfbuckets import hffs as child_fs
    try:
        with child_fs.open(path, "rb") as f:
            q.put(f.read())
    except Exception as e:  # reported to the parent
        q.put(repr(e))


def test_forked_children_get_their_own_connections(api, bucket):
    """DataLoader-style fork after the parent has used hffs: children must work."""
    import multiprocessing as mp
    from hfbuckets import hffs
    data = os.urandom(40 * 1024 * 1024)
    api.batch_bucket_files(bucket, add=[(data, "f.bin")])
    path = f"hf://buckets/{bucket}/f.bin"
    with hffs.open(path, "rb") as f:  # parent: clients, read-ahead threads, connections
        assert f.read(20 * 1024 * 1024) == data[:20 * 1024 * 1024]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_child_read, args=(path, q)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        got = [q.get(timeout=90) for _ in procs]  # a child stuck on parent state times out
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.exitcode is None:
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert all(g == data for g in got), [g if isinstance(g, str) else len(g) for g in got]
    assert hffs.cat(path) == data  # the parent still works


def test_block_size_zero_is_a_forward_stream(fs, api, bucket):
    data = os.urandom(2 * 1024 * 1024 + 3)
    api.batch_bucket_files(bucket, add=[(data, "s.bin")])
    with fs.open(f"buckets/{bucket}/s.bin", "rb", block_size=0) as f:
        assert not f.seekable()
        assert f.read(1000) == data[:1000]
        assert f.tell() == 1000 and f.seek(0, 1) == 1000
        with pytest.raises(ValueError):
            f.seek(0)
        assert f.read() == data[1000:]
