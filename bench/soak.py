#!/usr/bin/python3
"""Soak benchmarks for crash safety and bit rot (issue 11).

    python3 bench/soak.py crash  [--build DIR] [--cycles N] [--seed S] [--kill-ms MS] [--selftest]
    python3 bench/soak.py bitrot [--build DIR] [--flips N] [--seed S] [--heal require|report] [--selftest]
    python3 bench/soak.py gc-kill [--build DIR] [--attempts N] [--nfiles N] [--seed S]     (regression)
    python3 bench/soak.py shard-race [--build DIR] [--seed S]                              (regression, gdb)

Normally run through bench/soak-crash.sh and bench/soak-bitrot.sh (which map env variables onto these
flags). Both start their own bucketd on a free 127.0.0.1 port with a temporary data dir, drive it with the
real `hf` CLI, `curl` and `bucketd gc|fsck`, print figures, and end with "N passed, N failed" (exit 0 iff
nothing failed). Standard library only (Debian's /usr/bin/python3). Nothing leaves 127.0.0.1.

crash: for each cycle, start a mix of operations in parallel (fresh uploads, re-uploads of a modified
checkpoint, `hf buckets sync --delete` of a directory, `hf buckets rm`, `bucketd gc --grace 0s`), kill -9
bucketd (and a running gc) after a random 0..kill-ms delay, restart bucketd on the same data dir (same port
when it is free again, so clients still retrying reach the new process), wait for the clients, then check:
every path of the ledger is listed with an allowed content, every listed file downloads byte-for-byte equal
to the local copy of that content, and `bucketd fsck --read-data` reports 0 DAMAGE lines.
The ledger holds, per path, the set of contents it may have (None = absent): a write or delete the client
got success for (exit 0) narrows it to exactly that one ("acknowledged"); one that failed or was killed adds
its outcome to the set (old or new content both valid, or absent). After each check the set is narrowed to
what was observed (the restarted server's state is the durable one).

bitrot: upload a small set of files (random, text, float tensors, an edited copy sharing chunks, a tiny one)
and two that are deleted again (their xorbs and shards stay, referenced by no file until gc). Then for each
flip: pick a random xorb or shard blob under <data>/blobs, flip one random bit (original kept in memory),
download every file referencing the blob with `hf buckets cp` and with curl from the server-side
`resolve` URL (each must be byte-identical or fail — never succeed with other bytes), run
`bucketd fsck --read-data` (must name the blob), re-upload the original file(s) with `hf buckets cp`, run
the operator's scheduled `bucketd gc` (default grace) and check that they download identically again and
fsck is clean ("healed"). A flip that did not heal is
undone from the kept copy so that the next flip starts from a clean store.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- common ----

class Tally:
    def __init__(self, quiet=False):
        self.passed = 0
        self.failed = 0
        self.quiet = quiet

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            if os.environ.get("SOAK_VERBOSE"):
                print("ok   " + name, flush=True)
        else:
            self.failed += 1
            if self.quiet:
                return ok
            print("FAIL " + name + (" — " + detail if detail else ""), flush=True)
        return ok

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


SAN_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


class Server:
    """One bucketd process on 127.0.0.1; restartable on the same data dir (and port, when free)."""

    def __init__(self, bindir, data, logpath):
        self.bucketd = os.path.join(bindir, "bucketd")
        self.data = data
        self.logpath = logpath
        self.proc = None
        self.port = 0

    def admin(self, *args, check=True):
        r = subprocess.run([self.bucketd, *args, "--data", self.data], capture_output=True, text=True,
                           timeout=600)
        if SAN_RE.search(r.stderr):                # sanitizer builds: keep the report for sanitizer_check
            with open(self.logpath, "a") as f:
                f.write(r.stderr)
        if check and r.returncode != 0:
            raise RuntimeError("bucketd %s failed: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def _try_start(self, port):
        log = open(self.logpath, "a")
        start = log.tell()
        proc = subprocess.Popen([self.bucketd, "serve", "--listen", "127.0.0.1:%d" % port, "--data",
                                 self.data, "--quiet"], stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        pat = re.compile(r"^bucketd: listening on http://127\.0\.0\.1:(\d+) ", re.M)
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.logpath) as f:
                f.seek(start)
                m = pat.search(f.read())
            if m:
                self.proc, self.port = proc, int(m.group(1))
                return True
            if proc.poll() is not None:
                return False
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        return False

    def start(self, same_port=False):
        if same_port and self.port:
            for _ in range(20):               # the old listener is gone with the process; retry briefly
                if self._try_start(self.port):
                    return
                time.sleep(0.05)
        if not self._try_start(0):
            with open(self.logpath) as f:
                tail = f.read()[-2000:]
            raise RuntimeError("bucketd did not start:\n" + tail)

    def kill9(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self):
        """SIGTERM; returns the exit status (0 = clean)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


def fsck(server):
    """Returns (exit status, DAMAGE lines, warning count, summary line)."""
    r = server.admin("fsck", "--read-data", check=False)
    lines = r.stdout.splitlines()
    damage = [l for l in lines if l.startswith("DAMAGE:")]
    warnings = sum(1 for l in lines if l.startswith("warning:"))
    summ = next((l for l in lines if l.startswith("fsck:")), r.stderr.strip())
    return r.returncode, damage, warnings, summ


def xet_hashes(bindir, paths):
    """Xet file hash of each local file (the `xetsum` binary), in order."""
    if not paths:
        return []
    r = subprocess.run([os.path.join(bindir, "xetsum"), *paths], capture_output=True, text=True,
                       check=True, timeout=600)
    out = [l.split()[0] for l in r.stdout.splitlines() if l.strip()]
    if len(out) != len(paths):
        raise RuntimeError("xetsum printed %d hashes for %d files" % (len(out), len(paths)))
    return out


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


class Env:
    """Server + user + token + hf environment in a temp dir."""

    def __init__(self, build, tag):
        self.bindir = os.path.join(build if os.path.isabs(build) else os.path.join(ROOT, build), "bin")
        self.hf = os.path.join(self.bindir, "hf")
        for b in ("bucketd", "hf", "xetsum"):
            if not os.access(os.path.join(self.bindir, b), os.X_OK):
                raise SystemExit("soak: %s/%s is not built (run make)" % (self.bindir, b))
        self.tmp = tempfile.mkdtemp(prefix="bk-soak-%s." % tag, dir=os.environ.get("TMPDIR", "/tmp"))
        self.data = os.path.join(self.tmp, "data")
        self.server = Server(self.bindir, self.data, os.path.join(self.tmp, "bucketd.log"))
        self.server.start()
        self.server.admin("user", "add", "soak")
        self.token = self.server.admin("token", "add", "soak", "--role", "write").stdout.strip()
        self.hf_home = os.path.join(self.tmp, "hf")

    def env(self):
        e = dict(os.environ)
        e.update(HF_ENDPOINT=self.server.url, HF_TOKEN=self.token, HF_HOME=self.hf_home)
        return e

    def hf_run(self, *args, timeout=300):
        try:
            r = subprocess.run([self.hf, *args], capture_output=True, text=True, env=self.env(),
                               timeout=timeout, stdin=subprocess.DEVNULL)
            return r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            return 124, "", "timeout"

    def hf_popen(self, *args, log=None):
        return subprocess.Popen([self.hf, *args], stdout=subprocess.DEVNULL,
                                stderr=log if log else subprocess.DEVNULL, env=self.env(),
                                stdin=subprocess.DEVNULL)

    def listing(self, bucket):
        """path -> xet hash of every file in the bucket, or (None, error) if the listing failed."""
        rc, out, err = self.hf_run("buckets", "ls", bucket, "-R", "--format", "json")
        if rc != 0:
            return None, err.strip()
        out = out.strip()
        if out in ("", "(empty)"):
            return {}, ""
        try:
            entries = json.loads(out)
        except ValueError as e:
            return None, "listing is not JSON: %s" % e
        return {e["path"]: e["xet_hash"] for e in entries if e.get("type") == "file"}, ""

    def sanitizer_check(self, tally):
        """Under ASan/UBSan: no report in the bucketd log (serve, and admin commands' stderr)."""
        with open(self.server.logpath, errors="replace") as f:
            log = f.read()
        m = SAN_RE.search(log)
        tally.check("no sanitizer reports from bucketd", m is None, log[m.start():m.start() + 1500] if m else "")

    def cleanup(self, tally=None):
        self.server.stop()
        if tally is not None:
            self.sanitizer_check(tally)
        if os.environ.get("SOAK_KEEP") == "1":
            print("kept " + self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ----------------------------------------------------------------- crash ----

BUCKET = "soak/b"
NMODELS = 3
MODEL_SIZE = 3 << 20
NSYNC = 12


class Content:
    """Local copies of every content the ledger may expect, named by Xet hash."""

    def __init__(self, env):
        self.env = env
        self.dir = os.path.join(env.tmp, "content")
        os.makedirs(self.dir)
        self.n = 0

    def add_many(self, blobs):
        """blobs: list of bytes -> list of xet hashes (files stored under content/<hash>)."""
        paths = []
        for b in blobs:
            self.n += 1
            p = os.path.join(self.dir, ".new-%d" % self.n)
            with open(p, "wb") as f:
                f.write(b)
            paths.append(p)
        hs = xet_hashes(self.env.bindir, paths)
        for p, h in zip(paths, hs):
            os.replace(p, self.path(h))
        return hs

    def path(self, h):
        return os.path.join(self.dir, h)

    def read(self, h):
        with open(self.path(h), "rb") as f:
            return f.read()

    def prune(self, keep):
        for name in os.listdir(self.dir):
            if name not in keep:
                os.unlink(os.path.join(self.dir, name))


def check_state(env, content, ledger, dl_root, tally, label, stats, byte_check=True):
    """Compare the server's listing and downloads with the ledger; narrow the ledger to what was seen.

    Returns (lost, changed, unexpected, mismatched) counts for this check."""
    lost = changed = unexpected = mismatched = 0
    listed, err = env.listing(BUCKET)
    if listed is None:
        tally.check("%s: listing" % label, False, err)
        return 0, 0, 0, 0
    problems = []
    for path, allowed in sorted(ledger.items()):
        got = listed.get(path)
        if len(allowed) == 1:
            stats["acked_checks"] += 1
        if got in allowed:
            continue
        if len(allowed) == 1:
            want = next(iter(allowed))
            if want is None:
                unexpected += 1
                problems.append("%s: deleted (acknowledged) but listed with %s" % (path, got))
            elif got is None:
                lost += 1
                problems.append("%s: acknowledged %s but absent" % (path, want))
            else:
                changed += 1
                problems.append("%s: acknowledged %s but listed with %s" % (path, want, got))
        else:
            unexpected += 1
            problems.append("%s: listed with %s, allowed %s" % (path, got, sorted(map(str, allowed))))
    for path in sorted(set(listed) - set(ledger)):
        unexpected += 1
        problems.append("%s: listed but never written" % path)
    tally.check("%s: every acknowledged write listed with its content" % label, not problems,
                "; ".join(problems[:5]))
    for path, got in listed.items():
        ledger[path] = {got}
    for path in [p for p in ledger if p not in listed]:
        ledger[path] = {None}
    if not byte_check:
        return lost, changed, unexpected, mismatched
    shutil.rmtree(dl_root, ignore_errors=True)
    rc, _, err = env.hf_run("buckets", "sync", "hf://buckets/" + BUCKET, dl_root, "-q")
    bad = []
    if rc != 0:
        bad.append("download sync failed: " + err.strip()[-300:])
    for path, h in sorted(listed.items()):
        local = os.path.join(dl_root, path)
        if not os.path.exists(local):
            if rc == 0:
                bad.append("%s: not downloaded" % path)
                mismatched += 1
            continue
        if not os.path.exists(content.path(h)) or not same_bytes(local, content.path(h)):
            bad.append("%s: downloaded bytes differ from %s" % (path, h))
            mismatched += 1
    if rc != 0 and mismatched == 0:
        mismatched += 1
    stats["bytes_checked"] += sum(os.path.getsize(content.path(h)) for h in listed.values()
                                  if os.path.exists(content.path(h)))
    stats["files_downloaded"] += len(listed)
    tally.check("%s: every listed file downloads byte-for-byte" % label, not bad, "; ".join(bad[:5]))
    shutil.rmtree(dl_root, ignore_errors=True)
    return lost, changed, unexpected, mismatched


def modify_model(rng, data):
    b = bytearray(data)
    kind = rng.randrange(3)
    if kind == 0:                                  # overwrite a region (fine-tuned tensor)
        n = rng.randrange(4096, 256 << 10)
        off = rng.randrange(0, len(b) - n)
        b[off:off + n] = rng.randbytes(n)
    elif kind == 1:                                # several small edits
        for _ in range(rng.randrange(1, 8)):
            off = rng.randrange(len(b))
            b[off] ^= 1 + rng.randrange(255)
    else:                                          # grow or shrink the tail
        if len(b) > MODEL_SIZE or rng.randrange(2):
            del b[len(b) - rng.randrange(1, 128 << 10):]
        else:
            b += rng.randbytes(rng.randrange(1, 256 << 10))
    return bytes(b)


def run_crash(a):
    t_start = time.time()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    print("soak-crash: seed %d, cycles %d, kill moment 0..%d ms (replay: --seed %d)" %
          (seed, a.cycles, a.kill_ms, seed), flush=True)
    env = Env(a.build, "crash")
    tally = Tally()
    content = Content(env)
    ledger = {}                                    # path -> set of allowed xet hashes (None = absent)
    stats = dict(acked_writes=0, acked_deletes=0, unacked=0, acked_checks=0, bytes_checked=0,
                 files_downloaded=0, kills_during={}, gc_runs=0, gc_killed=0, lost=0, changed=0,
                 unexpected=0, mismatched=0, fsck_damage=0, fsck_warnings_max=0, fsck_warnings_end=0,
                 same_port=0, cycle_s=[], op_ms={}, clients_killed=0)
    try:
        rc, _, err = env.hf_run("buckets", "create", BUCKET)
        if rc != 0:
            raise RuntimeError("create bucket: " + err)
        # local state: models (current content hash each), the sync directory (name -> hash)
        models = content.add_many([rng.randbytes(MODEL_SIZE) for _ in range(NMODELS)])
        sync_dir = os.path.join(env.tmp, "syncdir")
        os.makedirs(sync_dir)
        sync_files = {}
        names = ["f%02d.bin" % i for i in range(NSYNC)]
        for n, h in zip(names, content.add_many([rng.randbytes(rng.randrange(1, 64 << 10))
                                                 for _ in names])):
            sync_files[n] = h
        next_sync = NSYNC
        logdir = os.path.join(env.tmp, "logs")
        os.makedirs(logdir)

        def set_sync_dir():
            for n in os.listdir(sync_dir):
                os.unlink(os.path.join(sync_dir, n))
            for n, h in sync_files.items():
                shutil.copyfile(content.path(h), os.path.join(sync_dir, n))

        for cycle in range(1, a.cycles + 1):
            tc = time.time()
            # ---- plan this cycle's operations (all decided by the seeded rng)
            ops = []                               # (kind, argv, effects) effects: [(path, hash|None)]
            nfresh = rng.randrange(1, 3)
            fresh_blobs = [rng.randbytes(rng.randrange(1, 1 << 20)) for _ in range(nfresh)]
            mi = rng.randrange(NMODELS)
            new_model = modify_model(rng, content.read(models[mi]))
            hs = content.add_many(fresh_blobs + [new_model])
            for i, h in enumerate(hs[:nfresh]):
                path = "fresh/c%04d-%d.bin" % (cycle, i)
                ops.append(("upload", ["buckets", "cp", content.path(h), "hf://buckets/%s/%s" % (BUCKET, path)],
                            [(path, h)]))
            models[mi] = hs[nfresh]
            path = "ckpt/model-%d.safetensors" % mi
            ops.append(("reupload", ["buckets", "cp", content.path(models[mi]),
                                     "hf://buckets/%s/%s" % (BUCKET, path)], [(path, models[mi])]))
            # sync dir: modify 2, add 1, remove 1 (sync --delete)
            mod = rng.sample(sorted(sync_files), 2)
            blobs = [rng.randbytes(rng.randrange(1, 64 << 10)) for _ in range(3)]
            hs = content.add_many(blobs)
            for n, h in zip(mod, hs[:2]):
                sync_files[n] = h
            sync_files["f%04d.bin" % next_sync] = hs[2]
            next_sync += 1
            gone = rng.choice(sorted(set(sync_files) - set(mod)))
            del sync_files[gone]
            set_sync_dir()
            # --delete removes every remote sync/ file not in the directory now (also ones whose removal an
            # earlier, interrupted sync did not finish)
            effects = [("sync/" + n, h) for n, h in sync_files.items()]
            effects += [(p, None) for p in sorted(set(ledger) | {"sync/" + gone})
                        if p.startswith("sync/") and p[5:] not in sync_files]
            ops.append(("sync", ["buckets", "sync", sync_dir, "hf://buckets/%s/sync" % BUCKET, "--delete", "-q"],
                        effects))
            # delete one acknowledged fresh file
            cands = sorted(p for p, s in ledger.items() if p.startswith("fresh/") and s != {None})
            if cands:
                victim = rng.choice(cands)
                ops.append(("delete", ["buckets", "rm", "%s/%s" % (BUCKET, victim), "-y"], [(victim, None)]))
            kill_delay = rng.randrange(a.kill_ms + 1) / 1000
            kill_clients = rng.random() < 0.33      # else they retry against the restarted server
            gc_delay = None                        # gc in 70% of the cycles; half of them just before the kill
            r = rng.random()
            if r < 0.35:
                gc_delay = max(0.0, kill_delay - rng.randrange(150) / 1000)
            elif r < 0.7:
                gc_delay = rng.randrange(a.kill_ms + 1) / 1000
            # ---- run them, kill -9 bucketd (and gc) at the chosen moment
            present_before = {p for _, _, eff in ops for p, _ in eff if ledger.get(p, {None}) != {None}}
            for kind, argv, eff in ops:          # an interrupted op may leave old or new: allow both now
                for path, h in eff:
                    ledger.setdefault(path, {None}).add(h)
            procs = []
            t0 = time.time()
            for kind, argv, eff in ops:
                log = open(os.path.join(logdir, "c%04d-%s.log" % (cycle, kind)), "w")
                procs.append((kind, env.hf_popen(*argv, log=log), eff, log))
            gc = None
            ended = set()
            while True:
                now = time.time() - t0
                for j, (kind, p, _, _) in enumerate(procs):
                    if j not in ended and p.poll() is not None:
                        ended.add(j)
                        if p.returncode == 0:
                            stats["op_ms"].setdefault(kind, []).append(now * 1000)
                if gc is None and gc_delay is not None and now >= gc_delay:
                    gc = subprocess.Popen([env.server.bucketd, "gc", "--grace", "0s", "--data", env.data],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    stats["gc_runs"] += 1
                if now >= kill_delay and (gc is not None or gc_delay is None or gc_delay > kill_delay):
                    break
                time.sleep(0.002)
            env.server.kill9()
            running = [k for k, p, _, _ in procs if p.poll() is None]
            if kill_clients:                       # the clients die too: their ops are not acknowledged
                for _, p, _, _ in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGKILL)
                stats["clients_killed"] += 1
            if gc is not None and gc.poll() is None:
                gc.send_signal(signal.SIGKILL)
                running.append("gc")
                stats["gc_killed"] += 1
            if gc is not None:
                gc.wait()
            key = "+".join(sorted(set(running))) or "idle"
            stats["kills_during"][key] = stats["kills_during"].get(key, 0) + 1
            old_port = env.server.port
            env.server.start(same_port=True)
            if env.server.port == old_port:
                stats["same_port"] += 1
            deadline = time.time() + 90
            for kind, p, eff, log in procs:
                try:
                    rc = p.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    rc = p.wait()
                log.close()
                if rc == 0:                        # acknowledged: exactly this outcome
                    for path, h in eff:
                        ledger[path] = {h}
                        if h is None:
                            stats["acked_deletes"] += path in present_before
                        else:
                            stats["acked_writes"] += 1
                else:
                    stats["unacked"] += 1
            # ---- check (server restarted on the same data dir)
            label = "cycle %d" % cycle
            l, c, u, m = check_state(env, content, ledger, os.path.join(env.tmp, "dl"), tally, label, stats)
            stats["lost"] += l
            stats["changed"] += c
            stats["unexpected"] += u
            stats["mismatched"] += m
            frc, damage, warns, summ = fsck(env.server)
            stats["fsck_damage"] += len(damage)
            stats["fsck_warnings_max"] = max(stats["fsck_warnings_max"], warns)
            tally.check("%s: fsck --read-data finds no damage" % label, not damage and frc == 0,
                        "; ".join(damage[:3]) or summ)
            if damage and stats["fsck_damage"] == len(damage):
                print("  first damage (cycle %d, seed %d): %s" % (cycle, seed, damage[0]), flush=True)
            keep_h = {h for s in ledger.values() for h in s if h} | set(models) | set(sync_files.values())
            content.prune(keep_h)
            stats["cycle_s"].append(time.time() - tc)
            if cycle % 10 == 0 or cycle == a.cycles:
                print("  cycle %d/%d: %.1f s/cycle so far, ledger %d paths, acked writes %d, lost %d, "
                      "changed %d, fsck damage %d" % (cycle, a.cycles, sum(stats["cycle_s"]) / cycle,
                                                      len(ledger), stats["acked_writes"], stats["lost"],
                                                      stats["changed"], stats["fsck_damage"]), flush=True)
        # ---- final: clean restart, full check, gc then fsck again
        rc = env.server.stop()
        tally.check("bucketd stops cleanly (SIGTERM) after the soak", rc == 0, "status %d" % rc)
        env.server.start()
        l, c, u, m = check_state(env, content, ledger, os.path.join(env.tmp, "dl"), tally, "final", stats)
        stats["lost"] += l
        stats["changed"] += c
        stats["mismatched"] += m
        frc, damage, warns, summ = fsck(env.server)
        stats["fsck_damage"] += len(damage)
        stats["fsck_warnings_end"] = warns
        tally.check("final: fsck --read-data finds no damage", not damage and frc == 0, "; ".join(damage[:3]))
        env.server.admin("gc", "--grace", "0s", check=False)
        frc, damage, warns2, summ = fsck(env.server)
        tally.check("final: after gc --grace 0s, fsck is clean (no damage, no warnings)",
                    not damage and frc == 0 and warns2 == 0, "; ".join(damage[:3]) or summ)
        l, c, u, m = check_state(env, content, ledger, os.path.join(env.tmp, "dl"), tally, "after gc", stats)
        stats["lost"] += l
        stats["changed"] += c
        stats["mismatched"] += m
        if a.selftest:
            crash_selftest(env, content, ledger, tally, stats)
        wall = time.time() - t_start
        acked_paths = sum(1 for s in ledger.values() if s != {None})
        cs = stats["cycle_s"]
        print("soak-crash figures (seed %d):" % seed)
        print("  cycles %d, kill -9 of bucketd %d (restarted on the same port %d times)" %
              (a.cycles, a.cycles, stats["same_port"]))
        print("  cycles where the running clients were killed -9 too: %d (else they retried against the "
              "restarted bucketd)" % stats["clients_killed"])
        print("  kill moments (ops still running): " + ", ".join("%s %d" % kv for kv in sorted(stats["kills_during"].items())))
        print("  client ops that finished before the kill, median ms from start: " +
              ", ".join("%s %.0f (n=%d)" % (k, sorted(v)[len(v) // 2], len(v)) for k, v in sorted(stats["op_ms"].items())))
        print("  gc --grace 0s runs %d, killed mid-run %d" % (stats["gc_runs"], stats["gc_killed"]))
        print("  acknowledged writes %d, acknowledged deletes %d, interrupted/failed client ops %d" %
              (stats["acked_writes"], stats["acked_deletes"], stats["unacked"]))
        print("  acknowledged ledger entries checked %d (sum over checks), files present at the end %d" %
              (stats["acked_checks"], acked_paths))
        print("  files downloaded and compared %d (%.1f MB)" % (stats["files_downloaded"],
                                                              stats["bytes_checked"] / 1e6))
        print("  lost %d, changed %d, unexpected %d, download mismatches %d" %
              (stats["lost"], stats["changed"], stats["unexpected"], stats["mismatched"]))
        print("  fsck DAMAGE lines %d; fsck warnings (orphans etc.): max %d per cycle, %d at the end before gc"
              % (stats["fsck_damage"], stats["fsck_warnings_max"], stats["fsck_warnings_end"]))
        print("  wall %.1f s, %.2f s per cycle (min %.2f, max %.2f)" %
              (wall, sum(cs) / max(1, len(cs)), min(cs or [0]), max(cs or [0])), flush=True)
    except Exception as e:                         # a crash of the harness is a failure, not a pass
        tally.check("soak-crash harness runs to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        env.cleanup(tally)
    return tally.summary()


def crash_selftest(env, content, ledger, tally, stats):
    """The checker must catch a changed file, a lost file and a byte difference."""
    quiet = Tally(quiet=True)
    dummy = dict(acked_checks=0, bytes_checked=0, files_downloaded=0)
    present = sorted(p for p, s in ledger.items() if s != {None})
    if len(present) < 2:
        tally.check("self-test: at least two files to corrupt", False)
        return
    p1, p2 = present[0], present[1]
    h1, h2 = next(iter(ledger[p1])), next(iter(ledger[p2]))
    fake = dict(ledger)
    fake[p1] = {h2} if h2 != h1 else {"0" * 64}    # the ledger expects other content at p1
    fake["selftest/never-uploaded.bin"] = {h1}     # and a file that was never written
    l, c, u, m = check_state(env, content, fake, os.path.join(env.tmp, "dl"), quiet, "self-test", dummy,
                             byte_check=False)
    tally.check("self-test: checker reports a changed file (ledger corrupted)", c == 1, "changed %d" % c)
    tally.check("self-test: checker reports a lost file (ledger corrupted)", l == 1, "lost %d" % l)
    # the local copy of p1's content differs by one byte: the byte-for-byte check must notice
    cp = content.path(h1)
    with open(cp, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0x01]))
    fake = {p: set(s) for p, s in ledger.items()}
    l, c, u, m = check_state(env, content, fake, os.path.join(env.tmp, "dl"), quiet, "self-test", dummy)
    with open(cp, "r+b") as f:
        f.seek(0)
        f.write(b)
    tally.check("self-test: byte-for-byte check reports a differing file", m >= 1, "mismatched %d" % m)
    # one flipped byte in a xorb: fsck --read-data must report damage
    xorbs = [os.path.join(d, n) for d, _, ns in os.walk(os.path.join(env.data, "blobs", "xorbs")) for n in ns
             if not n.startswith(".")]
    if not xorbs:
        tally.check("self-test: a xorb exists", False)
        return
    with open(xorbs[0], "r+b") as f:
        f.seek(20)
        b = f.read(1)
        f.seek(20)
        f.write(bytes([b[0] ^ 0x10]))
    frc, damage, _, _ = fsck(env.server)
    with open(xorbs[0], "r+b") as f:
        f.seek(20)
        f.write(b)
    tally.check("self-test: fsck reports a flipped xorb byte", frc != 0 and len(damage) >= 1)
    frc, damage, _, _ = fsck(env.server)
    tally.check("self-test: store clean again after the self-test", frc == 0 and not damage)


# ---------------------------------------------------------------- bitrot ----

def hex_of(raw):
    """Xet string form of a 32-byte hash: each 8-byte group reversed, then hex."""
    return "".join(raw[i:i + 8][::-1].hex() for i in range(0, 32, 8))


def lz4_region(p, off):
    """Category of byte `off` inside one LZ4 frame `p` (as written by any LZ4F encoder)."""
    if len(p) < 7 or p[:4] != b"\x04\x22\x4d\x18":
        return "frame (unparsed)"
    if off < 4:
        return "frame magic"
    flg = p[4]
    hdr = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
    if off < hdr:
        return "frame header"
    pos = hdr
    bsum = 4 if flg & 0x10 else 0
    while pos + 4 <= len(p):
        size = int.from_bytes(p[pos:pos + 4], "little")
        if size == 0:
            return "end mark" if off < pos + 4 else "content checksum"
        if off < pos + 4:
            return "block size"
        n = size & 0x7fffffff
        if off < pos + 4 + n:
            return "stored block" if size & 0x80000000 else "compressed block"
        if off < pos + 4 + n + bsum:
            return "block checksum"
        pos += 4 + n + bsum
    return "frame tail"


def xorb_region(blob, off):
    pos = 0
    while pos + 8 <= len(blob):
        clen = int.from_bytes(blob[pos + 1:pos + 4], "little")
        scheme = blob[pos + 4]
        if off < pos + 8:
            return "record header"
        if off < pos + 8 + clen:
            name = {0: "raw", 1: "lz4", 2: "bg4+lz4"}.get(scheme, "scheme %d" % scheme)
            if scheme == 0:
                return "raw payload"
            return "%s: %s" % (name, lz4_region(blob[pos + 8:pos + 8 + clen], off - pos - 8))
        pos += 8 + clen
    return "after the last record"


def shard_region(blob, off):
    """Category of byte `off` in a shard (xet.md §4: header, file-info and xorb-info sections with their
    48-byte bookends, optional 200-byte footer)."""
    if off < 48:
        return "shard header"
    footer = int.from_bytes(blob[40:48], "little")
    if footer and off >= len(blob) - footer:
        return "shard footer"
    book = b"\xff" * 32 + b"\x00" * 16
    pos = 48
    while pos + 48 <= len(blob):                  # file-info section
        if blob[pos:pos + 48] == book:
            if off < pos + 48:
                return "shard file bookend"
            pos += 48
            break
        flags = int.from_bytes(blob[pos + 32:pos + 36], "little")
        n = int.from_bytes(blob[pos + 36:pos + 40], "little")
        parts = [("shard file header", 48), ("shard file terms", 48 * n)]
        if flags & 0x80000000:
            parts.append(("shard file verification", 48 * n))
        if flags & 0x40000000:
            parts.append(("shard file metadata", 48))
        for name, ln in parts:
            if off < pos + ln:
                return name
            pos += ln
    while pos + 48 <= len(blob):                  # xorb-info section
        if blob[pos:pos + 48] == book:
            return "shard xorb bookend" if off < pos + 48 else "shard tail"
        n = int.from_bytes(blob[pos + 36:pos + 40], "little")
        for name, ln in (("shard xorb header", 48), ("shard xorb chunk entries", 48 * n)):
            if off < pos + ln:
                return name
            pos += ln
    return "shard tail"


def xorb_structure(blob):
    """Offsets of the structural bytes of a xorb: record headers, and in LZ4 payloads the frame header,
    block size fields and end mark (a handful of bytes among many kilobytes: uniform flips hardly hit them)."""
    hdr, lz = [], []
    pos = 0
    while pos + 8 <= len(blob):
        clen = int.from_bytes(blob[pos + 1:pos + 4], "little")
        hdr.extend(range(pos, pos + 8))
        if blob[pos + 4] in (1, 2):
            base = pos + 8
            p = blob[base:base + clen]
            if len(p) >= 7 and p[:4] == b"\x04\x22\x4d\x18":
                flg = p[4]
                fh = 7 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0)
                lz.extend(range(base, base + fh))
                q = fh
                while q + 4 <= len(p):
                    lz.extend(range(base + q, base + q + 4))
                    size = int.from_bytes(p[q:q + 4], "little")
                    if size == 0:
                        break
                    q += 4 + (size & 0x7fffffff) + (4 if flg & 0x10 else 0)
        pos += 8 + clen
    return hdr, lz


def pick_offset(rng, kind, blob):
    """Byte to flip: uniform, except that for xorbs 1/4 of the flips target a record header and 1/4 an
    LZ4 frame's structural bytes (when the xorb has compressed records), so every category is measured."""
    if kind == "xorb":
        hdr, lz = xorb_structure(blob)
        r = rng.random()
        if r < 0.25 and hdr:
            return rng.choice(hdr)
        if r < 0.5 and lz:
            return rng.choice(lz)
    return rng.randrange(len(blob))


def bitrot_files(rng):
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(2, 9)))
             for _ in range(400)]
    text = b" ".join(rng.choice(words) for _ in range(160000))[:768 << 10]
    import array
    floats = array.array("f", (rng.gauss(0, 0.02) for _ in range(160 << 10))).tobytes()
    rand = rng.randbytes(640 << 10)
    edited = bytearray(rand)
    off = rng.randrange(100 << 10, 500 << 10)
    edited[off:off + 40000] = rng.randbytes(40000)
    return {
        "random.bin": rand,
        "text.txt": text,
        "tensor.f32": floats,
        "random-edited.bin": bytes(edited),
        "tiny.bin": rng.randbytes(3000),
        # uploaded, then deleted: their blobs stay, referenced by no file (until gc)
        "gone/a.bin": rng.randbytes(200 << 10),
        "gone/b.txt": b" ".join(rng.choice(words) for _ in range(40000))[:150 << 10],
    }


def blob_refs(data):
    """xorb hex -> set of paths, shard hex -> set of paths, from the server's database (read-only)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "buckets.db"), uri=True, timeout=30)
    try:
        xr, sr = {}, {}
        for xh, path in db.execute(
                "SELECT DISTINCT x.hash, bf.path FROM bucket_files bf JOIN files f ON f.hash = bf.xet_hash "
                "JOIN file_terms t ON t.file_id = f.id JOIN xorbs x ON x.id = t.xorb_id"):
            xr.setdefault(hex_of(xh), set()).add(path)
        for sh, path in db.execute(
                "SELECT DISTINCT s.hash, bf.path FROM shards s JOIN shard_refs r ON r.shard_id = s.id "
                "AND r.kind = 0 JOIN bucket_files bf ON bf.xet_hash = r.hash"):
            sr.setdefault(hex_of(sh), set()).add(path)
        return xr, sr
    finally:
        db.close()


def list_blobs(data):
    out = []
    for kind in ("xorbs", "shards"):
        for d, _, names in os.walk(os.path.join(data, "blobs", kind)):
            for n in names:
                if re.fullmatch(r"[0-9a-f]{64}", n):
                    out.append((kind[:-1], n, os.path.join(d, n)))
    return sorted(out)


def run_bitrot(a):
    t_start = time.time()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    print("soak-bitrot: seed %d, flips %d, heal %s (replay: --seed %d)" % (seed, a.flips, a.heal, seed),
          flush=True)
    env = Env(a.build, "bitrot")
    tally = Tally()
    cats = {}                                      # category -> [flips, detected, dl_refused, fsck, wrong, healed]
    tot = dict(flips=0, detected=0, wrong=0, healed=0, orphan=0, orphan_detected=0, orphan_healed=0,
               dl_refused=0, dl_intact=0, fsck_found=0, undetected_harmless=0)
    try:
        rc, _, err = env.hf_run("buckets", "create", BUCKET)
        if rc != 0:
            raise RuntimeError("create bucket: " + err)
        src = os.path.join(env.tmp, "src")
        files = bitrot_files(rng)
        for name, b in files.items():
            p = os.path.join(src, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(b)
            rc, _, err = env.hf_run("buckets", "cp", p, "hf://buckets/%s/%s" % (BUCKET, name))
            if rc != 0:
                raise RuntimeError("upload %s: %s" % (name, err))
        # which files each blob came from (also for the ones about to become unreferenced)
        origin_x, origin_s = blob_refs(env.data)
        for name in files:
            if name.startswith("gone/"):
                rc, _, err = env.hf_run("buckets", "rm", "%s/%s" % (BUCKET, name), "-y")
                if rc != 0:
                    raise RuntimeError("rm %s: %s" % (name, err))
        blobs = list_blobs(env.data)
        known = set(origin_x) | set(origin_s)
        tally.check("setup: every blob on disk maps to the files it came from",
                    all(h in known for _, h, _ in blobs), "unmapped: %s" % [h for _, h, _ in blobs if h not in known][:3])
        frc, damage, warns, summ = fsck(env.server)
        tally.check("setup: fsck --read-data is clean before the first flip", frc == 0 and not damage, summ)
        print("  store: %d xorbs, %d shards, %d files (2 of them deleted again)" %
              (sum(1 for b in blobs if b[0] == "xorb"), sum(1 for b in blobs if b[0] == "shard"), len(files)),
              flush=True)
        dl = os.path.join(env.tmp, "dl")
        os.makedirs(dl)

        def download(path):
            """-> ('intact'|'refused'|'wrong', detail) for hf cp and for the resolve URL."""
            res = []
            out = os.path.join(dl, "x")
            if os.path.exists(out):
                os.unlink(out)
            rc, _, err = env.hf_run("buckets", "cp", "hf://buckets/%s/%s" % (BUCKET, path), out, timeout=120)
            want = os.path.join(src, path)
            if rc != 0:
                res.append(("refused", "hf cp: " + err.strip()[-200:]))
            elif same_bytes(out, want):
                res.append(("intact", ""))
            else:
                res.append(("wrong", "hf cp exited 0 with other bytes"))
            out2 = os.path.join(dl, "y")
            r = subprocess.run(["curl", "-sS", "-o", out2, "--max-time", "60", "-w", "%{http_code}",
                                "-H", "Authorization: Bearer " + env.token,
                                "%s/buckets/%s/resolve/%s" % (env.server.url, BUCKET, path)],
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stdout.strip() != "200":
                res.append(("refused", "resolve: curl %d http %s" % (r.returncode, r.stdout.strip())))
            elif same_bytes(out2, want):
                res.append(("intact", ""))
            else:
                res.append(("wrong", "resolve answered 200, curl exited 0, other bytes"))
            return res

        for i in range(1, a.flips + 1):
            blobs = list_blobs(env.data)
            kind, h, bpath = rng.choice(blobs)
            with open(bpath, "rb") as f:
                orig = f.read()
            off = pick_offset(rng, kind, orig)
            bit = rng.randrange(8)
            cat = (xorb_region(orig, off) if kind == "xorb" else shard_region(orig, off))
            cat = "%s / %s" % (kind, cat)
            refs_x, refs_s = blob_refs(env.data)
            refs = sorted((refs_x if kind == "xorb" else refs_s).get(h, ()))
            origin = sorted((origin_x if kind == "xorb" else origin_s).get(h, ()))
            orphan = not refs
            if orphan:
                cat += " (unreferenced)"
            flipped = bytearray(orig)
            flipped[off] ^= 1 << bit
            with open(bpath, "r+b") as f:
                f.seek(off)
                f.write(flipped[off:off + 1])
            c = cats.setdefault(cat, [0, 0, 0, 0, 0, 0])
            c[0] += 1
            tot["flips"] += 1
            # 1. downloads of every file that references the blob
            refused = wrong = 0
            details = []
            for path in refs:
                for verdict, detail in download(path):
                    if verdict == "refused":
                        refused += 1
                    elif verdict == "wrong":
                        wrong += 1
                        details.append("%s: %s" % (path, detail))
            # 2. fsck --read-data must name it
            frc, damage, _, _ = fsck(env.server)
            found = any(h in l for l in damage)
            detected = refused > 0 or found
            label = "flip %d (%s %s+%d bit %d, %s)" % (i, kind, h[:12], off, bit, cat)
            tally.check(label + ": no wrong byte served", wrong == 0, "; ".join(details))
            tally.check(label + ": detected (download refused or fsck)", detected,
                        "downloads refused %d, fsck: %s" % (refused, damage[:2]))
            if refused:
                tot["dl_refused"] += 1
                c[2] += 1
            if found:
                tot["fsck_found"] += 1
                c[3] += 1
            if detected:
                tot["detected"] += 1
                c[1] += 1
            if wrong:
                tot["wrong"] += 1
                c[4] += 1
            if orphan:
                tot["orphan"] += 1
                tot["orphan_detected"] += detected
            # 3. heal: re-upload the original file(s) with hf, then downloads identical and fsck clean
            heal_paths = refs or origin
            up_ok = True
            for path in heal_paths:
                rc, _, err = env.hf_run("buckets", "cp", os.path.join(src, path),
                                        "hf://buckets/%s/%s" % (BUCKET, path))
                up_ok = up_ok and rc == 0
            # then the operator's scheduled gc (default grace): it removes what the re-upload left
            # behind, a damaged xorb no file uses any more and a damaged (redundant) shard copy
            env.server.admin("gc", check=False)
            intact = all(v == "intact" for path in heal_paths for v, _ in download(path))
            frc, damage, _, _ = fsck(env.server)
            healed = up_ok and intact and frc == 0 and not damage
            if orphan:                             # put the store back: those files were deleted
                for path in heal_paths:
                    env.hf_run("buckets", "rm", "%s/%s" % (BUCKET, path), "-y")
                tot["orphan_healed"] += healed
            if healed:
                tot["healed"] += 1
                c[5] += 1
            if a.heal == "require":
                tally.check(label + ": healed by re-upload", healed,
                            "upload ok %s, downloads identical %s, fsck %s" % (up_ok, intact, damage[:1]))
            # 4. undo a flip that is still there, so the next flip starts from a clean store
            if os.path.exists(bpath):
                with open(bpath, "rb") as f:
                    now = f.read()
                if now == bytes(flipped):
                    with open(bpath, "r+b") as f:
                        f.seek(off)
                        f.write(orig[off:off + 1])
            if i % 50 == 0 or i == a.flips:
                print("  flip %d/%d: detected %d, wrong bytes served %d, healed %d (%.2f s/flip)" %
                      (i, a.flips, tot["detected"], tot["wrong"], tot["healed"], (time.time() - t_start) / i),
                      flush=True)
        frc, damage, warns, summ = fsck(env.server)
        tally.check("end: fsck --read-data clean after all flips were healed or undone", frc == 0 and not damage,
                    "; ".join(damage[:3]) or summ)
        if a.selftest:
            bitrot_selftest(env, src, download, tally)
        m = tot["flips"]
        print("soak-bitrot figures (seed %d):" % seed)
        print("  detected %d/%d, wrong bytes served %d, healed %d/%d" %
              (tot["detected"], m, tot["wrong"], tot["healed"], m))
        print("  detected by a refused download %d, by fsck --read-data %d; flips in unreferenced blobs %d "
              "(detected %d, healed by re-uploading their file %d)" %
              (tot["dl_refused"], tot["fsck_found"], tot["orphan"], tot["orphan_detected"], tot["orphan_healed"]))
        print("  %-52s %6s %8s %8s %6s %6s %6s" % ("category", "flips", "detected", "dl-refus", "fsck",
                                                   "wrong", "healed"))
        for k in sorted(cats):
            v = cats[k]
            print("  %-52s %6d %8d %8d %6d %6d %6d" % (k, *v))
        print("  wall %.1f s, %.2f s per flip" % (time.time() - t_start, (time.time() - t_start) / max(1, m)),
              flush=True)
        if a.heal == "report" and tot["healed"] < m:
            print("  note: --heal report: %d flips did not heal; not counted as failures in this run" %
                  (m - tot["healed"]))
    except Exception as e:
        tally.check("soak-bitrot harness runs to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        env.cleanup(tally)
    return tally.summary()


def bitrot_selftest(env, src, download, tally):
    """The download check must call a changed file 'wrong': compare against a changed original."""
    path = "random.bin"
    p = os.path.join(src, path)
    with open(p, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 0x80]))
    res = download(path)
    with open(p, "r+b") as f:
        f.write(b)
    tally.check("self-test: download check calls other bytes 'wrong' (hf cp and resolve)",
                [v for v, _ in res] == ["wrong", "wrong"], str(res))
    res = download(path)
    tally.check("self-test: and 'intact' again once the original is back", [v for v, _ in res] == ["intact"] * 2,
                str(res))


# --------------------------------------------------------------- gc-kill ----

def run_gckill(a):
    """Regression: `bucketd gc` killed -9 while it removes unreferenced xorbs must leave no database row
    without its blob (fsck clean), and an upload that deduplicates against such a xorb afterwards must
    download. Kills gc the moment the first blob appears in blobs/trash, over a few attempts."""
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)
    print("soak gc-kill: seed %d, attempts %d, %d unreferenced xorbs each" % (seed, a.attempts, a.nfiles),
          flush=True)
    env = Env(a.build, "gckill")
    tally = Tally()
    landed = damaged = 0
    try:
        rc, _, err = env.hf_run("buckets", "create", BUCKET)
        if rc != 0:
            raise RuntimeError("create bucket: " + err)
        src = os.path.join(env.tmp, "src")
        os.makedirs(src)
        trash = os.path.join(env.data, "blobs", "trash")
        for att in range(1, a.attempts + 1):
            names = []
            for i in range(a.nfiles):                  # one hf cp each: one xorb + one shard each
                n = "a%d-%03d.bin" % (att, i)
                with open(os.path.join(src, n), "wb") as f:
                    f.write(rng.randbytes(rng.randrange(1000, 20000)))
                rc, _, err = env.hf_run("buckets", "cp", os.path.join(src, n), "hf://buckets/%s/g/%s" % (BUCKET, n))
                if rc != 0:
                    raise RuntimeError("upload: " + err)
                names.append(n)
            rc, _, err = env.hf_run("buckets", "rm", "%s/g" % BUCKET, "-R", "-y")
            if rc != 0:
                raise RuntimeError("rm: " + err)
            hit = False
            gdb = shutil.which("gdb")
            if gdb:                                    # deterministic: SIGKILL right after the first blob is trashed
                cmds = os.path.join(env.tmp, "gc.gdb")
                with open(cmds, "w") as f:
                    f.write("set pagination off\nset confirm off\nbreak bk_blob_trash\nrun\nfinish\n"
                            "print \"soak: trashed one\"\nkill\nquit\n")
                r = subprocess.run([gdb, "-q", "-batch", "-x", cmds, "--args", env.server.bucketd, "gc",
                                    "--grace", "0s", "--data", env.data], capture_output=True, text=True,
                                   timeout=120, stdin=subprocess.DEVNULL)
                hit = "soak: trashed one" in r.stdout and bool(os.listdir(trash))
            else:                                      # without gdb: poll the trash and kill as soon as it fills
                gc = subprocess.Popen([env.server.bucketd, "gc", "--grace", "0s", "--data", env.data],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.time() + 30
                while gc.poll() is None and time.time() < deadline:
                    if os.listdir(trash):
                        gc.send_signal(signal.SIGKILL)
                        hit = True
                        break
                gc.wait()
            landed += hit
            frc, damage, warns, summ = fsck(env.server)
            damaged += bool(damage)
            tally.check("attempt %d: after gc was killed -9 %s, fsck finds no damage" %
                        (att, "with blobs in the trash" if hit else "(it finished first)"),
                        frc == 0 and not damage, "%d DAMAGE lines, first: %s" % (len(damage), damage[:1]))
            # an upload of a deleted file's content deduplicates against its (removed or kept) xorb
            n = rng.choice(names)
            rc, _, err = env.hf_run("buckets", "cp", os.path.join(src, n), "hf://buckets/%s/again/%s" % (BUCKET, n))
            tally.check("attempt %d: re-upload of a deleted file succeeds" % att, rc == 0, err.strip())
            out = os.path.join(env.tmp, "dl.bin")
            rc, _, err = env.hf_run("buckets", "cp", "hf://buckets/%s/again/%s" % (BUCKET, n), out, timeout=60)
            tally.check("attempt %d: the acknowledged re-upload downloads byte-for-byte" % att,
                        rc == 0 and same_bytes(out, os.path.join(src, n)), err.strip()[-200:])
            env.server.admin("gc", "--grace", "0s", check=False)   # leave a clean store for the next attempt
            env.hf_run("buckets", "rm", "%s/again" % BUCKET, "-R", "-y")
        tally.check("the kill landed while gc had blobs in the trash at least once", landed > 0,
                    "gc always finished first")
        print("gc-kill figures: attempts %d, kill landed mid-gc %d, attempts with fsck damage %d" %
              (a.attempts, landed, damaged), flush=True)
    except Exception as e:
        tally.check("gc-kill harness runs to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        env.cleanup(tally)
    return tally.summary()


# ------------------------------------------------------------ shard-race ----

def run_shard_race(a):
    """Regression: a `bucketd gc --grace 0s` that runs between a shard's blob put and its registration
    (bucketd stopped there by a gdb breakpoint on svc_shard_register, gc run once from the breakpoint)
    removes the blob as an orphan; the registration must still leave the shard's blob in place (fsck clean):
    it checks the blob under the write lock and has the caller put it again.
    The upload is a prefix of an already stored file ending on a chunk boundary: it needs no new xorb,
    so gc has nothing else to remove and the upload is acknowledged."""
    tally = Tally()
    gdb = shutil.which("gdb")
    if not gdb:
        tally.check("gdb is installed (scripts/deps.sh)", False)
        return tally.summary()
    env = Env(a.build, "shardrace")
    gproc = None
    try:
        env.server.stop()                          # restart it under gdb
        tmp = env.tmp
        flag = os.path.join(tmp, "gc-on")
        with open(os.path.join(tmp, "gdb.cmds"), "w") as f:
            f.write("set pagination off\nset confirm off\nhandle SIGPIPE nostop noprint pass\n"
                    "break svc_shard_register\ncommands\nsilent\n"
                    "shell [ ! -e %s ] || { %s gc --grace 0s --data %s >> %s/gc.out 2>&1; rm -f %s; }\n"
                    "continue\nend\nrun\n" % (flag, env.server.bucketd, env.data, tmp, flag))
        log = os.path.join(tmp, "gdb.log")
        with open(log, "w") as lf:
            gproc = subprocess.Popen([gdb, "-q", "-batch", "-x", os.path.join(tmp, "gdb.cmds"), "--args",
                                      env.server.bucketd, "serve", "--listen", "127.0.0.1:0", "--data", env.data,
                                      "--quiet"], stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline and gproc.poll() is None:
            m = re.search(r"^bucketd: listening on http://127\.0\.0\.1:(\d+) ", open(log).read(), re.M)
            port = int(m.group(1)) if m else None
            time.sleep(0.05)
        if port is None:
            raise RuntimeError("bucketd under gdb did not start: " + open(log).read()[-500:])
        env.server.port = port
        rng = random.Random(a.seed)
        rc, _, err = env.hf_run("buckets", "create", BUCKET)
        full = os.path.join(tmp, "full.bin")
        with open(full, "wb") as f:
            f.write(rng.randbytes(300000))
        rc, _, err = env.hf_run("buckets", "cp", full, "hf://buckets/%s/full.bin" % BUCKET)
        tally.check("upload of the whole file", rc == 0, err.strip())
        r = subprocess.run([os.path.join(env.bindir, "xetsum"), "--chunks", full], capture_output=True,
                           text=True, check=True)
        cut = int(r.stdout.splitlines()[2].split()[0])   # start of the third chunk
        part = os.path.join(tmp, "prefix.bin")
        with open(full, "rb") as f, open(part, "wb") as g:
            g.write(f.read(cut))
        open(flag, "w").close()
        rc, _, err = env.hf_run("buckets", "cp", part, "hf://buckets/%s/prefix.bin" % BUCKET)
        if os.path.exists(flag):                   # the breakpoint removes it once gc ran
            os.unlink(flag)
        gc_out = open(os.path.join(tmp, "gc.out")).read() if os.path.exists(os.path.join(tmp, "gc.out")) else ""
        tally.check("gc ran between the shard's put and its registration and removed it as an orphan",
                    "1 orphan blobs" in gc_out, gc_out.strip())
        tally.check("upload of the prefix (no new xorb) is acknowledged", rc == 0, err.strip())
        frc, damage, warns, summ = fsck(env.server)
        tally.check("fsck --read-data: the registered shard has its blob", frc == 0 and not damage,
                    "; ".join(damage[:2]) or summ)
        out = os.path.join(tmp, "dl.bin")
        rc, _, err = env.hf_run("buckets", "cp", "hf://buckets/%s/prefix.bin" % BUCKET, out)
        tally.check("the prefix downloads byte-for-byte", rc == 0 and same_bytes(out, part), err.strip())
    except Exception as e:
        tally.check("shard-race harness runs to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        if gproc is not None and gproc.poll() is None:
            gproc.send_signal(signal.SIGTERM)      # gdb kills its inferior (bucketd) on exit
            try:
                gproc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                gproc.kill()
                gproc.wait()
        glog = os.path.join(env.tmp, "gdb.log")
        if os.path.exists(glog):                   # bucketd's stderr went to gdb's log
            with open(glog, errors="replace") as f, open(env.server.logpath, "a") as g:
                g.write(f.read())
        env.cleanup(tally)
    return tally.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crash")
    c.add_argument("--build", default="build")
    c.add_argument("--cycles", type=int, default=200)
    c.add_argument("--seed", type=int)
    c.add_argument("--kill-ms", type=int, default=300)
    c.add_argument("--selftest", action="store_true")
    b = sub.add_parser("bitrot")
    b.add_argument("--build", default="build")
    b.add_argument("--flips", type=int, default=1000)
    b.add_argument("--seed", type=int)
    b.add_argument("--heal", choices=("require", "report"), default="require")
    b.add_argument("--selftest", action="store_true")
    g = sub.add_parser("gc-kill")
    g.add_argument("--build", default="build")
    g.add_argument("--attempts", type=int, default=3)
    g.add_argument("--nfiles", type=int, default=20)
    g.add_argument("--seed", type=int)
    r = sub.add_parser("shard-race")
    r.add_argument("--build", default="build")
    r.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "shard-race":
        return run_shard_race(a)
    if a.cmd == "gc-kill":
        if not 1 <= a.attempts <= 100 or not 1 <= a.nfiles <= 1000:
            ap.error("attempts 1..100, nfiles 1..1000")
        return run_gckill(a)
    if a.cmd == "crash":
        if not 1 <= a.cycles <= 100000 or not 0 <= a.kill_ms <= 600000:
            ap.error("cycles 1..100000, kill-ms 0..600000")
        return run_crash(a)
    if not 1 <= a.flips <= 1000000:
        ap.error("flips 1..1000000")
    return run_bitrot(a)


if __name__ == "__main__":
    sys.exit(main())
