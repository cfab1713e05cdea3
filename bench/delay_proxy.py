#!/usr/bin/env python3
"""delay_proxy.py — a TCP proxy on 127.0.0.1 that puts a simulated long link in front of a server
(bench/run-regions.sh: "eu 80 ms away").

    delay_proxy.py --listen PORT --to HOST:PORT --delay-ms D [--window BYTES] [--ready-file F]

Every byte is delivered D ms after the proxy received it, in each direction, so a request/response
exchange costs 2*D more (D = RTT/2: --delay-ms 40 simulates 80 ms between regions). Like a real
long link, a connection cannot have more than --window bytes (default 4 MiB, Linux's default maximum
TCP receive window order) travelling in one direction: a byte counts from its arrival until D ms
after its delivery (the acknowledgement's way back), so one connection moves at most window/RTT
bytes per second. Only loopback addresses are accepted (listen and target). Stops on SIGTERM/SIGINT.
Counts connections and bytes; prints them on stderr at exit.
"""
import argparse
import asyncio
import ipaddress
import signal
import sys
import time


class Line:
    """One direction of one connection: a delay line with a byte window."""

    def __init__(self, delay, window):
        self.delay, self.window = delay, window
        self.q = asyncio.Queue()
        self.inflight = 0
        self.room = asyncio.Event()
        self.room.set()

    def _release(self, n):
        self.inflight -= n
        if self.inflight < self.window:
            self.room.set()

    async def pump_in(self, reader):
        while True:
            await self.room.wait()
            data = await reader.read(256 * 1024)
            self.q.put_nowait((time.monotonic() + self.delay, data))
            if not data:
                return
            self.inflight += len(data)
            if self.inflight >= self.window:
                self.room.clear()

    async def pump_out(self, writer, stats):
        loop = asyncio.get_running_loop()
        while True:
            due, data = await self.q.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
            stats["bytes"] += len(data)
            loop.call_later(self.delay, self._release, len(data))


async def serve(args, stats):
    host, port = args.to.rsplit(":", 1)

    async def handle(creader, cwriter):
        stats["conns"] += 1
        try:
            sreader, swriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        d = args.delay_ms / 1000.0
        up, down = Line(d, args.window), Line(d, args.window)
        tasks = [asyncio.create_task(c) for c in (up.pump_in(creader), up.pump_out(swriter, stats),
                                                   down.pump_in(sreader), down.pump_out(cwriter, stats))]
        try:
            await asyncio.gather(*tasks)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for t in tasks:
                t.cancel()
            for w in (swriter, cwriter):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.listen, reuse_address=True)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]) + "\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    async with server:
        await stop.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 (0 = any free; see --ready-file)")
    p.add_argument("--to", required=True, help="HOST:PORT of the server (loopback only)")
    p.add_argument("--delay-ms", type=float, required=True, help="one-way delay in ms (RTT/2)")
    p.add_argument("--window", type=int, default=4 << 20, help="bytes in flight per direction and connection")
    p.add_argument("--ready-file", help="write the listening port here once listening")
    args = p.parse_args()
    host = args.to.rsplit(":", 1)[0]
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("delay_proxy: --to must be a loopback address")
    if not 0 <= args.delay_ms <= 10000 or args.window < 65536:
        sys.exit("delay_proxy: --delay-ms 0..10000, --window >= 65536")
    stats = {"conns": 0, "bytes": 0}
    asyncio.run(serve(args, stats))
    print(f"delay_proxy: {stats['conns']} connections, {stats['bytes']} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
