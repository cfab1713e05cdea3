#!/usr/bin/python3
"""Slow-client driver for bucketd (bench/run-slowloris.sh, tests/integration/server_slow.sh).

Opens CONNS connections that trickle one byte every INTERVAL seconds, spread
over ADDRS loopback source addresses (127.0.1.1, 127.0.1.2, ...: the whole of
127.0.0.0/8 is loopback, so a per-address connection cap does not stop them
all), and meanwhile measures GET /api/whoami-v2 from 127.0.0.1, one new TCP
connection per request (the accept path is what slow clients can block).

  slowloris.py --port P [--conns 300] [--addrs 10] [--mode headers|body|none]
               [--interval 2] [--settle 3] [--requests 200] [--timeout 15]
               [--token T] [--reconnect]

mode headers: "GET /api/whoami-v2 HTTP/1.1" then the header block one byte at
a time, never finished; body: complete headers of a POST with
Content-Length: 60000 (a JSON route, under its 64 KiB cap) and then the body
one byte at a time; none: no slow connections (the baseline).
--reconnect: a connection the server closes is opened again (what an attacker
does), so CONNS stay open. Only 127.0.0.0/8 is ever contacted.

Prints one line:
  whoami MODE CONNS: n=200 ok=200 p50=0.41ms p99=1.20ms max=3.02ms \
      slow_open=300 slow_cut=0 slow_refused=0
slow_open = slow connections open (writable) when the measurement ended,
slow_cut = closed by the server while trickling, slow_refused = closed before
their first trickled byte (e.g. over the per-address cap). Exit status 0.
"""
import argparse
import socket
import sys
import threading
import time


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=300)
    p.add_argument("--addrs", type=int, default=10)
    p.add_argument("--mode", choices=("headers", "body", "none"), default="headers")
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=3.0)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--token", default="")
    p.add_argument("--reconnect", action="store_true")
    a = p.parse_args()
    if not (0 < a.addrs <= 250 and 0 <= a.conns <= 5000 and 0 < a.requests <= 100000):
        p.error("out of range")
    return a


HEAD_PREFIX = b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n"
HEAD_TRICKLE = b"X-Slow-Header: " + b"a" * 4000  # never ends with \r\n\r\n
BODY_PREFIX = (b"POST /api/repos/move HTTP/1.1\r\nHost: x\r\n"
               b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
BODY_TRICKLE = b" " * 60000


class Slow:
    """One trickling connection."""

    def __init__(self, port, src, mode):
        self.port, self.src, self.mode = port, src, mode
        self.sock = None
        self.sent = 0
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.src, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", self.port))
        s.sendall(HEAD_PREFIX if self.mode == "headers" else BODY_PREFIX)
        s.setblocking(False)
        self.sock, self.sent = s, 0

    def alive(self):
        """False when the server closed or reset the connection."""
        try:
            d = self.sock.recv(4096)
            return False if d == b"" else True  # an early answer (e.g. 408) also counts as cut below
        except BlockingIOError:
            return True
        except OSError:
            return False

    def tick(self):
        """Sends the next byte; returns 'ok', 'cut' or 'refused'."""
        data = HEAD_TRICKLE if self.mode == "headers" else BODY_TRICKLE
        if not self.alive():
            return "refused" if self.sent == 0 else "cut"
        try:
            self.sock.send(data[self.sent % len(data):self.sent % len(data) + 1])
            self.sent += 1
            return "ok"
        except OSError:
            return "refused" if self.sent == 0 else "cut"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def trickler(args, conns, stats, stop):
    while not stop.wait(args.interval):
        for i, c in enumerate(conns):
            if c is None:
                continue
            r = c.tick()
            if r == "ok":
                continue
            stats[r] += 1
            c.close()
            conns[i] = None
            if args.reconnect and not stop.is_set():
                try:
                    conns[i] = Slow(args.port, c.src, c.mode)
                except OSError:
                    stats["connect_fail"] += 1


def whoami(port, token, timeout):
    """One request on a new connection; returns seconds or None on failure."""
    req = b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if token:
        req += b"Authorization: Bearer " + token.encode() + b"\r\n"
    req += b"\r\n"
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.001, timeout - (time.monotonic() - t0)))
            s.sendall(req)
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                if time.monotonic() - t0 > timeout:
                    return None
        status = buf.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or status[1] not in (b"200", b"401"):
            return None
        return time.monotonic() - t0
    except OSError:
        return None


def pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    a = parse()
    conns, stats = [], {"cut": 0, "refused": 0, "connect_fail": 0}
    if a.mode != "none":
        for i in range(a.conns):
            src = "127.0.1.%d" % (1 + i % a.addrs)
            try:
                conns.append(Slow(a.port, src, a.mode))
            except OSError:
                stats["connect_fail"] += 1
    stop = threading.Event()
    t = threading.Thread(target=trickler, args=(a, conns, stats, stop), daemon=True)
    t.start()
    if a.mode != "none":
        time.sleep(a.settle)
    lat, ok = [], 0
    for _ in range(a.requests):
        r = whoami(a.port, a.token, a.timeout)
        if r is not None:
            lat.append(r * 1000.0)
            ok += 1
    stop.set()
    t.join(a.interval + 5)
    still = sum(1 for c in conns if c is not None and c.alive())
    for c in conns:
        if c is not None:
            c.close()
    lat.sort()
    f = (lambda p: "%.2fms" % pct(lat, p)) if lat else (lambda p: "-")
    print("whoami %s %d: n=%d ok=%d p50=%s p99=%s max=%s slow_open=%d slow_cut=%d "
          "slow_refused=%d connect_fail=%d" %
          (a.mode, a.conns if a.mode != "none" else 0, a.requests, ok, f(50), f(99),
           ("%.2fms" % lat[-1]) if lat else "-", still, stats["cut"], stats["refused"],
           stats["connect_fail"]))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
