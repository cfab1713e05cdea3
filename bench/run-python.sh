#!/usr/bin/env bash
# bench/run-python.sh BUILD — figures of the Python package (hfbuckets) against a local bucketd,
# each printed beside a baseline measured in the same run:
#   1. sequential read of a 1 GiB file through hffs.open (goal >= 500 MB/s)
#        baseline: `hf cp` download of the same file (C, to disk)
#   2. 1 MiB random reads through hffs.open: latency p50/p90/max
#        baseline: the same ranges through HfApi.read_bucket_range (C range read, no fsspec)
#   3. writing a fresh 1 GiB file through hffs.open('wb'); baseline: `hf cp` upload of another
#        fresh 1 GiB file
#   4. sync_bucket from Python vs `hf buckets sync` on the same-shaped data (goal within 10%):
#        upload of fresh data (alternating runs, fresh random data each time so dedup is equal),
#        then download of the same bucket content into empty directories. Median of
#        BENCH_SYNC_ROUNDS (default 5) alternating runs; python/cli time ratio printed.
# BENCH_GIB scales the big file (default 1). No timed assertions: figures only.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
export BUILD BUCKETS_ROOT=$PWD
. tests/integration/lib.sh
VENV=${BUCKETS_VENV:-$PWD/.venv}
python/install-venv.sh "$VENV" >/dev/null || { echo "venv install failed"; exit 1; }
case "$BUILD" in /*) LIBSO="$BUILD/lib/libbuckets.so" ;; *) LIBSO="$PWD/$BUILD/lib/libbuckets.so" ;; esac
bk_start --quiet >/dev/null 2>&1 || bk_start
A=$(bk_user_token bench write 2>/dev/null)
export HF_ENDPOINT=$BK_URL HF_TOKEN=$A HF_HOME=$BK_TMP/hf BUCKETS_LIB=$LIBSO BK_HF="$BK_BIN/hf"
export BENCH_GIB=${BENCH_GIB:-1} W=$BK_TMP/w
mkdir -p "$W"
"$VENV/bin/python" - <<'PY'
import os, random, shutil, statistics, subprocess, time
from hfbuckets import HfApi, HfFileSystem

HF = os.environ["BK_HF"]; W = os.environ["W"]
GIB = int(os.environ["BENCH_GIB"]); BYTES = GIB << 30
api = HfApi()
api.create_bucket("bench/py")
print(f"== hfbuckets (Python {os.sys.version.split()[0]}) benchmark, {os.cpu_count()} cores, "
      f"{GIB} GiB file, server and client on 127.0.0.1")

def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

big = os.path.join(W, "big.bin")
with open(big, "wb") as f:
    for _ in range(BYTES >> 24):
        f.write(os.urandom(1 << 24))
run(HF, "cp", big, "hf://buckets/bench/py/big.bin")
os.unlink(big)

def mbps(n, t): return f"{n / t / 1e6:8.1f} MB/s ({t:.2f} s)"

# 1. sequential read
best_py = best_c = None
for rnd in range(2):
    t0 = time.perf_counter()
    run(HF, "cp", "hf://buckets/bench/py/big.bin", os.path.join(W, "down.bin"))
    tc = time.perf_counter() - t0
    os.unlink(os.path.join(W, "down.bin"))
    fs = HfFileSystem(skip_instance_cache=True)
    n = 0
    t0 = time.perf_counter()
    with fs.open("hf://buckets/bench/py/big.bin", "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            n += len(b)
    tp = time.perf_counter() - t0
    assert n == BYTES, n
    best_py = tp if best_py is None else min(best_py, tp)
    best_c = tc if best_c is None else min(best_c, tc)
print(f"{'sequential read via hffs.open (goal 500 MB/s)':52s} {mbps(BYTES, best_py)}  "
      f"| hf cp download: {mbps(BYTES, best_c)}")

# 2. 1 MiB random reads
rng = random.Random(7)
offs = [rng.randrange(0, BYTES - (1 << 20)) for _ in range(60)]
fs = HfFileSystem(skip_instance_cache=True)
h = fs.info("buckets/bench/py/big.bin")["xet_hash"]
lat_fs, lat_api = [], []
with fs.open("hf://buckets/bench/py/big.bin", "rb") as f:
    for o in offs:
        t0 = time.perf_counter(); f.seek(o); d = f.read(1 << 20); lat_fs.append(time.perf_counter() - t0)
        assert len(d) == 1 << 20
for o in offs:
    t0 = time.perf_counter(); d = api.read_bucket_range("bench/py", h, o, 1 << 20)
    lat_api.append(time.perf_counter() - t0)
def pct(v, q): v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))] * 1e3
print(f"{'1 MiB random read via hffs.open (60 reads)':52s} p50 {pct(lat_fs,.5):6.1f} ms  p90 "
      f"{pct(lat_fs,.9):6.1f} ms  max {max(lat_fs)*1e3:6.1f} ms  | C range read: p50 "
      f"{pct(lat_api,.5):6.1f} ms  p90 {pct(lat_api,.9):6.1f} ms")

# 3. write through hffs.open("wb") (spooled, uploaded with dedup on close) vs `hf cp` upload,
#    each of its own fresh random file (so neither is helped by dedup)
def fresh(path):
    with open(path, "wb") as f:
        for _ in range(BYTES >> 24):
            f.write(os.urandom(1 << 24))
a, b = os.path.join(W, "wa.bin"), os.path.join(W, "wb.bin")
fresh(a); fresh(b)
t0 = time.perf_counter()
run(HF, "cp", b, "hf://buckets/bench/py/wb.bin")
tc = time.perf_counter() - t0
fs = HfFileSystem(skip_instance_cache=True)
t0 = time.perf_counter()
with open(a, "rb") as src, fs.open("hf://buckets/bench/py/wa.bin", "wb") as dst:
    while True:
        chunk = src.read(8 << 20)
        if not chunk:
            break
        dst.write(chunk)
tp = time.perf_counter() - t0
os.unlink(a); os.unlink(b)
label = 'write via hffs.open("wb") (spool + upload)'
print(f"{label:52s} {mbps(BYTES, tp)}  "
      f"| hf cp upload: {mbps(BYTES, tc)}")

# 4. sync: Python vs CLI
NFILES, FSIZE = 400, 512 << 10
ROUNDS = int(os.environ.get("BENCH_SYNC_ROUNDS", "5"))
def make_tree(d):
    for i in range(NFILES):
        p = os.path.join(d, f"d{i % 10}", f"f{i}.bin")
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(os.urandom(FSIZE))
up = {"py": [], "cli": []}
down = {"py": [], "cli": []}
for rnd in range(ROUNDS):
    for who in (("cli", "py") if rnd % 2 == 0 else ("py", "cli")):
        src = os.path.join(W, f"src-{who}-{rnd}")
        make_tree(src)
        dest = f"hf://buckets/bench/py/sync-{who}-{rnd}"
        t0 = time.perf_counter()
        if who == "cli":
            run(HF, "buckets", "sync", src, dest, "-q")
        else:
            api.sync_bucket(src, dest, quiet=True)
        up[who].append(time.perf_counter() - t0)
        shutil.rmtree(src)
for rnd in range(ROUNDS):
    for who in (("cli", "py") if rnd % 2 == 0 else ("py", "cli")):
        dst = os.path.join(W, f"dst-{who}-{rnd}")
        src = "hf://buckets/bench/py/sync-cli-0"
        t0 = time.perf_counter()
        if who == "cli":
            run(HF, "buckets", "sync", src, dst, "-q")
        else:
            api.sync_bucket(src, dst, quiet=True)
        down[who].append(time.perf_counter() - t0)
        shutil.rmtree(dst)
tot = NFILES * FSIZE
for name, d in (("upload", up), ("download", down)):
    p, c = statistics.median(d["py"]), statistics.median(d["cli"])
    print(f"{f'sync_bucket {name} {NFILES} x {FSIZE >> 10} KiB (median of {ROUNDS})':52s} {mbps(tot, p)}  "
          f"| hf buckets sync: {mbps(tot, c)}  python/cli time = {p / c:.3f} "
          f"(best: {min(d['py']) / min(d['cli']):.3f})")
PY
rc=$?
bk_stop >/dev/null 2>&1
exit $rc
