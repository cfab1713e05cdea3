"""Issue 12 part 2, remaining bullets, through the Python API against the real
bucketd: sync_bucket from a remote source naming one file, Hub web URLs as
sync ends, create_bucket(region=...) stored and shown by bucket_info."""
import os

import pytest

from conftest import new_name


def _tree(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/"))
    return sorted(out)


@pytest.fixture
def filled(api, bucket, tmp_path):
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "file.txt").write_bytes(b"one file\n")
    (src / "dir" / "other.txt").write_bytes(b"other\n")
    (src / "top.txt").write_bytes(b"top\n")
    api.sync_bucket(str(src), f"hf://buckets/{bucket}", quiet=True)
    return bucket


def test_sync_bucket_single_remote_file(api, filled, tmp_path):
    out = tmp_path / "out"
    plan = api.sync_bucket(f"hf://buckets/{filled}/dir/file.txt", str(out), quiet=True)
    assert [(op.action, op.path) for op in plan.operations] == [("download", "file.txt")]
    assert _tree(out) == ["file.txt"]
    assert (out / "file.txt").read_bytes() == b"one file\n"
    again = api.sync_bucket(f"hf://buckets/{filled}/dir/file.txt", str(out), quiet=True)
    assert [(op.action, op.path) for op in again.operations] == [("skip", "file.txt")]
    # a file at the bucket root, and the plan / apply route
    out2 = tmp_path / "out2"
    pf = tmp_path / "p.jsonl"
    api.sync_bucket(f"hf://buckets/{filled}/top.txt", str(out2), plan=str(pf), quiet=True)
    assert not out2.exists()
    api.sync_bucket(apply=str(pf), quiet=True)
    assert _tree(out2) == ["top.txt"]
    assert (out2 / "top.txt").read_bytes() == b"top\n"


def test_sync_bucket_single_local_file_is_refused(api, bucket, tmp_path):
    f = tmp_path / "one.txt"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="hf cp"):
        api.sync_bucket(str(f), f"hf://buckets/{bucket}/up", quiet=True)
    assert list(api.list_bucket_tree(bucket)) == []


def test_sync_bucket_web_urls(api, filled, tmp_path):
    ep = os.environ["HF_ENDPOINT"]
    out = tmp_path / "web"
    api.sync_bucket(f"{ep}/buckets/{filled}/tree/dir", str(out), quiet=True)
    assert _tree(out) == ["file.txt", "other.txt"]
    out1 = tmp_path / "web1"
    api.sync_bucket(f"{ep}/buckets/{filled}/resolve/dir/other.txt", str(out1), quiet=True)
    assert _tree(out1) == ["other.txt"]
    up = tmp_path / "up"
    up.mkdir()
    (up / "a b.txt").write_bytes(b"ab")
    plan = api.sync_bucket(str(up), f"{ep}/buckets/{filled}/tree/web%20up", quiet=True)
    assert plan.dest == f"hf://buckets/{filled}/web up"
    assert [f.path for f in api.list_bucket_tree(filled, prefix="web up")] == ["web up/a b.txt"]
    with pytest.raises(ValueError, match="configured endpoint"):
        api.sync_bucket(str(up), f"http://example.invalid:1/buckets/{filled}", quiet=True)
    with pytest.raises(ValueError, match="tree/PATH"):
        api.sync_bucket(f"{ep}/buckets/{filled}/blob/dir", str(out), quiet=True)


def test_create_bucket_region_is_stored(api):
    eu, us, plain = (f"alice/{new_name('r')}" for _ in range(3))
    try:
        api.create_bucket(eu, region="eu")
        api.create_bucket(us, region="us", private=True)
        api.create_bucket(plain)
        assert api.bucket_info(eu).region == "eu"
        assert api.bucket_info(us).region == "us"
        assert api.bucket_info(plain).region is None  # none chosen: none reported
        listed = {b.id: b.region for b in api.list_buckets("alice")}
        assert listed[eu] == "eu" and listed[us] == "us" and listed[plain] is None
        with pytest.raises(ValueError):
            api.create_bucket(f"alice/{new_name('r')}", region="asia")
    finally:
        for bid in (eu, us, plain):
            api.delete_bucket(bid, missing_ok=True)
