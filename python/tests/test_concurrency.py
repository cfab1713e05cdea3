"""Concurrent writers to one path: every reader sees one complete version."""
import os
import subprocess
import sys
import textwrap
import threading

from hfbuckets import HfFileSystem

SIZE = 1 << 20
WRITERS = 4
ROUNDS = 3


def _version(i: int) -> bytes:
    # each version is a distinct, self-identifying payload
    head = f"writer-{i:04d}|".encode()
    return (head * (SIZE // len(head) + 1))[:SIZE]


def test_concurrent_writers_threads_and_processes(api, bucket):
    path = f"hf://buckets/{bucket}/shared.bin"
    versions = {_version(i) for i in range(WRITERS * ROUNDS * 2)}
    errors, seen = [], set()
    stop = threading.Event()

    def writer(w):
        fs = HfFileSystem(skip_instance_cache=True)
        try:
            for r in range(ROUNDS):
                with fs.open(path, "wb", block_size=256 * 1024) as f:
                    data = _version(w * ROUNDS + r)
                    for k in range(0, SIZE, 100_000):  # many small writes
                        f.write(data[k:k + 100_000])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    def reader():
        fs = HfFileSystem(skip_instance_cache=True)
        while not stop.is_set():
            try:
                fs.invalidate_cache()
                with fs.open(path, "rb", block_size=128 * 1024) as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            if data not in versions:
                errors.append(f"torn read of {len(data)} bytes: {data[:40]!r}...")
            seen.add(data[:12])

    # a process writer too (separate client, separate process)
    proc_code = textwrap.dedent(f"""
        from hfbuckets import HfFileSystem
        fs = HfFileSystem(skip_instance_cache=True)
        head_n = {WRITERS * ROUNDS}
        for r in range({ROUNDS}):
            i = head_n + r
            head = f"writer-{{i:04d}}|".encode()
            data = (head * ({SIZE} // len(head) + 1))[:{SIZE}]
            with fs.open("{path}", "wb") as f:
                f.write(data)
    """)
    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in readers + writers:
        t.start()
    try:
        p = subprocess.Popen([sys.executable, "-c", proc_code], env=dict(os.environ))
        for t in writers:
            t.join()
        assert p.wait(timeout=300) == 0
    finally:  # the readers must stop even when a writer failed
        stop.set()
        for t in readers:
            t.join()
    assert errors == []
    final = HfFileSystem(skip_instance_cache=True).cat(path)
    assert final in versions
    assert len(seen) >= 1
    assert [e.path for e in api.list_bucket_tree(bucket)] == ["shared.bin"]
