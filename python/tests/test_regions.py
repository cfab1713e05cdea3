"""Regions (docs/regions.md): create_bucket(region=), prewarm_bucket,
update_bucket_settings(prewarm=), BucketInfo.regions and HF_BUCKETS_REGION
(read by the C library when a client is created, sent as X-Buckets-Region).

The tests marked `needs_regions` run when the server has regions configured
(tests/integration/regions_api.sh runs this file against bucketd with two
file:// regions, eu then us); against a single-store server (python.sh) they
are skipped with "SKIP: regions not enabled" — decided by the server's own
answer (BucketInfo.regions is empty exactly when no region is configured)."""
import os

import pytest

from conftest import new_name


def _regions_enabled(api, bucket):
    return bool(api.bucket_info(bucket).regions)


@pytest.fixture
def regional(api, bucket):
    if not _regions_enabled(api, bucket):
        pytest.skip("SKIP: regions not enabled")
    return bucket


def _client(monkeypatch, region):
    from hfbuckets import HfApi
    if region is None:
        monkeypatch.delenv("HF_BUCKETS_REGION", raising=False)
    else:
        monkeypatch.setenv("HF_BUCKETS_REGION", region)
    return HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])


def test_malformed_region_env_is_refused_before_any_request(monkeypatch):
    api = _client(monkeypatch, "EU west")
    try:
        with pytest.raises(ValueError, match="HF_BUCKETS_REGION"):
            api.whoami()
    finally:
        api.close()


def test_create_with_an_unknown_region_is_refused_by_the_server(api):
    bid = f"alice/{new_name('r')}"
    with pytest.raises(ValueError, match="unknown region 'mars'"):
        api.create_bucket(bid, region="mars")
    with pytest.raises(ValueError, match="region name"):
        api.create_bucket(bid, region="Mars")  # not a name: refused before sending
    assert not any(b.id == bid for b in api.list_buckets("alice"))


def test_prewarm_and_warm_list_validate_region_names(api, bucket):
    # a single-store server has no region to pre-warm into and says so
    refusal = ("unknown region 'mars'" if _regions_enabled(api, bucket)
               else "no regions are configured")
    with pytest.raises(ValueError, match="region"):
        api.prewarm_bucket(bucket, "EU")
    with pytest.raises(ValueError, match=refusal):
        api.prewarm_bucket(bucket, "mars")
    with pytest.raises(ValueError, match=refusal):
        api.update_bucket_settings(bucket, prewarm=["mars"])
    with pytest.raises(TypeError):
        api.update_bucket_settings(bucket, prewarm="us")
    with pytest.raises(ValueError):
        api.update_bucket_settings(bucket)
    api.update_bucket_settings(bucket, prewarm=[])  # clearing is always fine
    api.update_bucket_settings(bucket, private=True, prewarm=[])
    assert api.bucket_info(bucket).private is True


def test_home_region_and_regions_in_bucket_info(api, regional):
    bid = f"alice/{new_name('h')}"
    api.create_bucket(bid, region="us")
    try:
        info = api.bucket_info(bid)
        assert info.region == "us"
        home = [r for r in info.regions if r["home"]]
        assert [r["name"] for r in home] == ["us"]
        assert home[0]["state"] == "warm" and home[0]["lagMs"] == 0
        # without a region: the default region (the first added, eu) is the home
        assert api.bucket_info(regional).region == "eu"
    finally:
        api.delete_bucket(bid, missing_ok=True)


def test_warm_list_and_prewarm_show_in_regions(api, regional):
    api.batch_bucket_files(regional, add=[(os.urandom(300_000), "ckpt/a.bin")])
    api.update_bucket_settings(regional, prewarm=["us"])
    regs = {r["name"]: r for r in api.bucket_info(regional).regions}
    assert regs["us"]["warm"] is True and regs["eu"]["home"] is True
    assert regs["us"]["bytesNeeded"] > 0
    assert regs["us"]["state"] in ("warming", "warm")
    job = api.prewarm_bucket(regional, "us", prefix="ckpt/")
    assert isinstance(job["job"], int) and job["region"] == "us" and job["prefix"] == "ckpt/"
    regs = {r["name"]: r for r in api.bucket_info(regional).regions}
    assert regs["us"]["prewarm"] is True
    api.update_bucket_settings(regional, prewarm=[])
    regs = {r["name"]: r for r in api.bucket_info(regional).regions}
    assert "us" not in regs or regs["us"]["warm"] is False


def test_region_env_reaches_the_server(monkeypatch, api, regional, tmp_path):
    data = os.urandom(200_000)
    api.batch_bucket_files(regional, add=[(data, "r.bin")])
    us = _client(monkeypatch, "us")
    try:  # the home copy serves a client in us while us has none
        us.download_bucket_files(regional, [("r.bin", tmp_path / "us.bin")])
        assert (tmp_path / "us.bin").read_bytes() == data
    finally:
        us.close()
    nosuch = _client(monkeypatch, "nosuch")
    try:  # the header arrived: the server names its regions
        with pytest.raises(ValueError, match="unknown region 'nosuch'"):
            nosuch.download_bucket_files(regional, [("r.bin", tmp_path / "n.bin")])
    finally:
        nosuch.close()
    from hfbuckets import HfFileSystem
    fs = HfFileSystem(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"],
                      skip_instance_cache=True)
    with pytest.raises(ValueError, match="unknown region 'nosuch'"):
        fs.cat_file(f"hf://buckets/{regional}/r.bin")
