"""pandas round trips, the launch-post snippets (only the import line changed),
and entry-point registration checked in a fresh interpreter."""
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest


def test_pandas_csv_json_round_trip(api, bucket):
    df = pd.DataFrame({"step": [1, 2, 3], "loss": [0.5, 0.25, 0.125], "tag": ["a", "b", "c"]})
    df.to_csv(f"hf://buckets/{bucket}/metrics/run.csv", index=False)
    back = pd.read_csv(f"hf://buckets/{bucket}/metrics/run.csv")
    pd.testing.assert_frame_equal(df, back)
    df.to_json(f"hf://buckets/{bucket}/metrics/run.json", orient="records", lines=True)
    back = pd.read_json(f"hf://buckets/{bucket}/metrics/run.json", orient="records", lines=True)
    pd.testing.assert_frame_equal(df, back)
    df.to_json(f"hf://buckets/{bucket}/metrics/table.json")
    pd.testing.assert_frame_equal(df, pd.read_json(f"hf://buckets/{bucket}/metrics/table.json"))
    # compressed, inferred from the extension
    df.to_csv(f"hf://buckets/{bucket}/metrics/run.csv.gz", index=False)
    pd.testing.assert_frame_equal(df, pd.read_csv(f"hf://buckets/{bucket}/metrics/run.csv.gz"))
    names = sorted(e.path for e in api.list_bucket_tree(bucket, recursive=True))
    assert names == ["metrics/run.csv", "metrics/run.csv.gz", "metrics/run.json", "metrics/table.json"]


def test_pandas_large_csv_and_missing(bucket):
    df = pd.DataFrame({"i": range(200_000), "s": [f"row-{i}" for i in range(200_000)]})
    df.to_csv(f"hf://buckets/{bucket}/big.csv", index=False)
    pd.testing.assert_frame_equal(df, pd.read_csv(f"hf://buckets/{bucket}/big.csv"))
    with pytest.raises(FileNotFoundError):
        pd.read_csv(f"hf://buckets/{bucket}/absent.csv")


def _run_fresh(code, cwd):
    """Runs code in a new interpreter (no hfbuckets import unless the code does it)."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=dict(os.environ),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_entry_point_registration_without_import(bucket, tmp_path):
    out = _run_fresh(f"""
        import sys, fsspec, pandas as pd
        fs = fsspec.filesystem("hf")
        print(type(fs).__module__, type(fs).__name__)
        pd.DataFrame({{"a": [1, 2]}}).to_csv("hf://buckets/{bucket}/ep.csv", index=False)
        print(pd.read_csv("hf://buckets/{bucket}/ep.csv")["a"].sum())
        with fsspec.open("hf://buckets/{bucket}/ep.csv", "rt") as f:
            print(f.readline().strip())
        print(fsspec.filesystem("hf") is fs)
    """, tmp_path)
    assert out.split("\n")[:4] == ["hfbuckets.fs HfFileSystem", "3", "a", "True"]


def test_launch_post_python_snippet(tmp_path):
    """huggingface/blog storage-buckets.md, 'Using Buckets from Python', with
    `from huggingface_hub import` -> `from hfbuckets import` and username -> alice."""
    ck = tmp_path / "checkpoints"
    (ck / "step-1").mkdir(parents=True)
    (ck / "step-1" / "model.bin").write_bytes(os.urandom(100_000))
    (ck / "step-1" / "optim.bin").write_bytes(os.urandom(50_000))
    out = _run_fresh("""
        from hfbuckets import create_bucket, list_bucket_tree, sync_bucket

        create_bucket("my-training-bucket", private=True, exist_ok=True)

        sync_bucket(
            "./checkpoints",
            "hf://buckets/alice/my-training-bucket/checkpoints",
        )

        for item in list_bucket_tree(
            "alice/my-training-bucket",
            prefix="checkpoints",
            recursive=True,
        ):
            print(item.path, item.size)
    """, tmp_path)
    lines = out.splitlines()
    assert lines[0] == "Sync plan: ./checkpoints -> hf://buckets/alice/my-training-bucket/checkpoints"
    assert "  Uploads: 2" in lines and "Sync completed." in lines
    items = sorted(ln for ln in lines if ln.startswith("checkpoints/"))
    assert items == ["checkpoints/step-1/model.bin 100000", "checkpoints/step-1/optim.bin 50000"]


def test_launch_post_filesystem_snippets(tmp_path):
    """'Filesystem integration' snippets of the launch post (hffs + pandas)."""
    setup = """
        from hfbuckets import HfApi
        api = HfApi()
        api.create_bucket("alice/my-training-bucket", exist_ok=True)
        api.batch_bucket_files("alice/my-training-bucket", add=[
            (b"a: 1\\n", "config.yaml"), (b"x", "checkpoints/step-1/shard.parquet"),
            (b"y", "data/train/part-0.parquet"), (b"col,val\\nx,1\\ny,2\\n", "results.csv")])
    """
    _run_fresh(setup, tmp_path)
    out = _run_fresh("""
        from hfbuckets import hffs

        # List files in a bucket directory
        print(hffs.ls("buckets/alice/my-training-bucket/checkpoints", detail=False))

        # Glob for specific files
        print(hffs.glob("buckets/alice/my-training-bucket/**/*.parquet"))

        # Read a file directly
        with hffs.open("buckets/alice/my-training-bucket/config.yaml", "r") as f:
            print(f.read())

        import pandas as pd

        # Read a CSV directly from a Bucket
        df = pd.read_csv("hf://buckets/alice/my-training-bucket/results.csv")

        # Write results back
        df.to_csv("hf://buckets/alice/my-training-bucket/summary.csv")
        print(hffs.cat("buckets/alice/my-training-bucket/summary.csv").decode())
    """, tmp_path)
    lines = out.splitlines()
    assert lines[0] == "['buckets/alice/my-training-bucket/checkpoints/step-1']"
    assert "buckets/alice/my-training-bucket/checkpoints/step-1/shard.parquet" in lines[1]
    assert "buckets/alice/my-training-bucket/data/train/part-0.parquet" in lines[1]
    assert lines[2] == "a: 1"
    assert lines[4:7] == [",col,val", "0,x,1", "1,y,2"]


def test_import_registers_without_installed_metadata(tmp_path):
    """Debian's python3 without the venv (no dist-info): importing hfbuckets registers hf."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=pkg)
    code = ("import fsspec\n"
            "try:\n    fsspec.filesystem('hf'); print('known before import')\n"
            "except ValueError:\n    print('unknown before import')\n"
            "import hfbuckets\nprint(type(fsspec.filesystem('hf')).__name__)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["unknown", "before", "import", "HfFileSystem"]


def test_pandas_storage_options_token(api, bucket):
    api.update_bucket_settings(bucket, private=True)
    pd.DataFrame({"x": [1]}).to_csv(f"hf://buckets/{bucket}/p.csv", index=False)
    ok = pd.read_csv(f"hf://buckets/{bucket}/p.csv",
                     storage_options={"token": os.environ["BK_TOKEN_ALICE_READ"]})
    assert ok["x"].tolist() == [1]
    for tok in (os.environ["BK_TOKEN_BOB"], False):
        with pytest.raises(FileNotFoundError):
            pd.read_csv(f"hf://buckets/{bucket}/p.csv", storage_options={"token": tok})
