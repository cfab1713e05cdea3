"""sync_bucket data safety (issue 11): a same-size rewrite within the 1 s mtime
window is transferred, downloads never leave the target (symlinks are refused),
and one file that cannot be written is reported while every other file arrives
(SyncIncompleteError with the failed paths)."""
import os

import pytest

from hfbuckets import SyncIncompleteError

T0 = 1_700_000_000


def _write(p, data, mtime):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.utime(p, (mtime, mtime))


def test_sync_subsecond_same_size_rewrite_is_uploaded(api, bucket, tmp_path):
    src = tmp_path / "src"
    _write(src / "f.txt", b"version-1", T0 + 0.2)
    uri = f"hf://buckets/{bucket}"
    api.sync_bucket(str(src), uri, quiet=True)
    _write(src / "f.txt", b"version-2", T0 + 0.7)
    plan = api.sync_bucket(str(src), uri, quiet=True)
    assert [(o.action, o.reason) for o in plan.operations] == [("upload", "content differs")]
    f = next(iter(api.get_bucket_paths_info(bucket, ["f.txt"])))
    assert api.read_bucket_range(bucket, f.xet_hash, 0, 100) == b"version-2"
    # download direction: a same-size remote rewrite 0.25 s later
    dst = tmp_path / "dst"
    api.sync_bucket(uri, str(dst), quiet=True)
    _write(tmp_path / "v3", b"version-3", T0 + 0.95)
    api.batch_bucket_files(bucket, add=[(str(tmp_path / "v3"), "f.txt")])
    plan = api.sync_bucket(uri, str(dst), quiet=True)
    assert [(o.action, o.reason) for o in plan.operations] == [("download", "content differs")]
    assert (dst / "f.txt").read_bytes() == b"version-3"


def test_sync_download_refuses_symlinks_and_reports_unwritable(api, bucket, tmp_path, capsys):
    files = {"a.txt": b"aa", "link/pwn": b"PWNED", "sub/b.txt": b"bb", "z.txt": b"zz"}
    api.batch_bucket_files(bucket, add=[(data, path) for path, data in files.items()])
    h = next(iter(api.get_bucket_paths_info(bucket, ["a.txt"]))).xet_hash
    long_key = "m" + "x" * 1021  # a valid key, a segment too long for the local filesystem
    api.batch_bucket_files(bucket, copy=[("bucket", bucket, h, long_key)])
    outside = tmp_path / "outside"
    outside.mkdir()
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "link").symlink_to(outside)
    with pytest.raises(SyncIncompleteError) as ei:
        api.sync_bucket(f"hf://buckets/{bucket}", str(dst))
    failed = ei.value.failed
    assert len(failed) == 2, failed
    assert failed[0].startswith("link/pwn") and "symbolic link" in failed[0]
    assert failed[1].startswith("m" + "x" * 50)
    assert "2 of 5 files could not be downloaded" in str(ei.value)
    assert list(outside.iterdir()) == []
    assert (dst / "a.txt").read_bytes() == b"aa"
    assert (dst / "sub" / "b.txt").read_bytes() == b"bb"
    assert (dst / "z.txt").read_bytes() == b"zz"
    assert "Failed: link/pwn" in capsys.readouterr().err
    assert not [p for p in dst.rglob("*") if ".bkpart." in p.name]


def test_download_bucket_files_refuses_a_symlinked_file_name(api, bucket, tmp_path):
    api.batch_bucket_files(bucket, add=[(b"new content", "f.txt")])
    victim = tmp_path / "victim"
    victim.write_bytes(b"ORIGINAL")
    (tmp_path / "f.txt").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        api.download_bucket_files(bucket, [("f.txt", str(tmp_path / "f.txt"))])
    assert victim.read_bytes() == b"ORIGINAL"
    assert (tmp_path / "f.txt").is_symlink()
    assert not [p for p in tmp_path.iterdir() if ".bkpart." in p.name]
