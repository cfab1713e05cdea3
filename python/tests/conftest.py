"""Fixtures: a real bucketd started by tests/integration/python.sh, which exports
HF_ENDPOINT, HF_TOKEN (alice, write), BK_TOKEN_BOB, BK_TOKEN_ALICE_READ, HF_HOME,
BUCKETS_LIB and BK_HF (the hf CLI)."""
import itertools
import os
import uuid

import pytest

REQUIRED = ["HF_ENDPOINT", "HF_TOKEN", "BK_TOKEN_BOB", "BUCKETS_LIB"]


def pytest_configure(config):
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        raise pytest.UsageError(
            f"missing env {missing}: run tests/integration/python.sh (it starts bucketd)")
    if not os.environ["HF_ENDPOINT"].startswith("http://127.0.0.1:"):
        raise pytest.UsageError("tests only talk to 127.0.0.1")


_n = itertools.count()


@pytest.fixture
def api():
    from hfbuckets import HfApi
    a = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
    yield a
    a.close()


@pytest.fixture
def bob():
    from hfbuckets import HfApi
    a = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["BK_TOKEN_BOB"])
    yield a
    a.close()


@pytest.fixture
def anon():
    from hfbuckets import HfApi
    a = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=False)
    yield a
    a.close()


def new_name(prefix="b"):
    return f"{prefix}{next(_n)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def bucket(api):
    """A fresh public bucket alice/<unique>; yields its id."""
    bid = f"alice/{new_name()}"
    api.create_bucket(bid)
    yield bid
    api.delete_bucket(bid, missing_ok=True)


@pytest.fixture
def fs():
    from hfbuckets import HfFileSystem
    f = HfFileSystem(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"],
                     skip_instance_cache=True)
    yield f
