"""TURN relay benchmark: the embedded server vs coturn, side by side, on loopback.

    python benchmarks/turn_bench.py [--seconds 6] [--rounds 3] [--counts 1,50,200] [--no-coturn]

For each number of concurrent allocations N, every allocation carries 60 small packets per
second (48 bytes, about an INPUT message with redundancy), alternating direction: client ->
relay -> peer via ChannelData, and peer -> relay -> client. Each packet carries its send time
(one clock: all endpoints live in this process), so one-way latency is measured directly. The
same load over plain UDP socket pairs without a relay ("direct") is the baseline; the "added"
columns are relay minus direct at the same percentile. A closed-loop run (client -> peer,
32 allocations, 8 packets in flight each) gives the maximum packet rate.

The machine's load changes while the benchmark runs, so every configuration is measured in
``--rounds`` short slices, interleaved (direct, embedded, coturn, direct, ...), and the samples
of all slices are pooled. "srv cpu" is the relay process's CPU time over the wall time. The
load generator is pinned to one core and the relays to the others (``--no-pin`` to not).
At high allocation counts the generator's own send bursts delay the direct packets, so
"added" can be negative there; see docs/turn.md.

The embedded server runs as its own child process (EmbeddedTurn), coturn as
/usr/bin/turnserver in the foreground: both separate from this load generator. Loopback only.
Compare the columns rather than the absolute values: they depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interactive_gym_p2p.turn import credentials  # noqa: E402
from interactive_gym_p2p.turn.allocations import Limits  # noqa: E402
from interactive_gym_p2p.turn.client import TurnClient  # noqa: E402
from interactive_gym_p2p.turn.coturn import CoturnProcess  # noqa: E402
from interactive_gym_p2p.turn.embedded import EmbeddedTurn  # noqa: E402
from interactive_gym_p2p.turn.policy import PeerPolicy  # noqa: E402

SECRET = "turn-bench-secret"
REALM = "bench"
RATE = 60  # packets per second per allocation
PAYLOAD = 48
CHANNEL = 0x4000
HEADER = struct.Struct("!IIQ")  # path index, sequence, send time (ns)
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    count: int
    seconds: float = 0.0
    sent: int = 0
    cpu_seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.latencies_ns)

    def pct(self, q: float) -> float:
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    @property
    def loss(self) -> float:
        return 100.0 * (1 - self.received / self.sent) if self.sent else float("nan")


@dataclass
class Server:
    label: str
    port: int | None
    pid: int | None

    def cpu(self) -> float:
        """CPU seconds used so far by the relay process (all threads)."""
        if self.pid is None:
            return 0.0
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


class Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_packet(data)


@dataclass
class PathPair:
    """One allocation (or one direct socket pair): how to send each way."""

    up: Callable[[bytes], None]
    down: Callable[[bytes], None]
    close: Callable[[], Awaitable[None]]


class Recorder:
    def __init__(self) -> None:
        self.active = False
        self.latencies: list[int] = []
        self.on_receive: Callable[[int], None] | None = None

    def packet(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        index, _, sent_at = HEADER.unpack_from(data)
        if self.active:
            self.latencies.append(now - sent_at)
        if self.on_receive is not None:
            self.on_receive(index)


def payload(index: int, seq: int) -> bytes:
    return HEADER.pack(index, seq, time.perf_counter_ns()).ljust(PAYLOAD, b"\x00")


async def open_udp(on_packet: Callable[[bytes], None]) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Receiver(on_packet), local_addr=("127.0.0.1", 0)
    )
    return transport  # type: ignore[return-value]


async def direct_paths(n: int, rec: Recorder) -> list[PathPair]:
    paths = []
    for _ in range(n):
        a = await open_udp(rec.packet)
        b = await open_udp(rec.packet)
        a_addr, b_addr = a.get_extra_info("sockname"), b.get_extra_info("sockname")

        async def close(a: asyncio.DatagramTransport = a, b: asyncio.DatagramTransport = b) -> None:
            a.close()
            b.close()

        paths.append(
            PathPair(
                up=lambda p, a=a, b_addr=b_addr: a.sendto(p, b_addr),
                down=lambda p, b=b, a_addr=a_addr: b.sendto(p, a_addr),
                close=close,
            )
        )
    return paths


async def turn_paths(port: int, n: int, rec: Recorder, tag: str) -> list[PathPair]:
    async def one(i: int) -> PathPair:
        cred = credentials.issue(SECRET, f"{tag}-{i}")
        client = await TurnClient.connect(("127.0.0.1", port), "udp", cred.username, cred.password)
        client.on_data = lambda peer, channel, data: rec.packet(data)
        relayed = await client.allocate()
        peer = await open_udp(rec.packet)
        await client.channel_bind(CHANNEL, peer.get_extra_info("sockname"))

        async def close() -> None:
            # Delete the allocation: a later client reusing this local port would otherwise
            # meet it again (437 Allocation Mismatch) until its lifetime ran out.
            try:
                await client.refresh(0)
            finally:
                client.close()
                peer.close()

        return PathPair(
            up=lambda p: client.send_channel_data(CHANNEL, p),
            down=lambda p: peer.sendto(p, relayed),
            close=close,
        )

    paths: list[PathPair] = []
    for start in range(0, n, 50):  # allocate in batches
        paths += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return paths


async def open_paths(server: Server, n: int, rec: Recorder, tag: str) -> list[PathPair]:
    return await direct_paths(n, rec) if server.port is None else await turn_paths(server.port, n, rec, tag)


async def paced_run(paths: list[PathPair], rec: Recorder, seconds: float, warmup: float) -> int:
    """Send RATE packets/s on every path (alternating direction), staggered; return packets sent."""
    loop = asyncio.get_running_loop()
    n = len(paths)
    period = 1.0 / RATE
    start = loop.time()
    measure_from = start + warmup
    end = measure_from + seconds
    next_tick = [start + period * i / n for i in range(n)]
    seq = [0] * n
    sent = 0
    while True:
        now = loop.time()
        if now >= end:
            break
        if not rec.active and now >= measure_from:
            rec.active = True
        for i in range(n):
            while next_tick[i] <= now:
                data = payload(i, seq[i])
                (paths[i].up if seq[i] % 2 == 0 else paths[i].down)(data)
                if rec.active:
                    sent += 1
                seq[i] += 1
                next_tick[i] += period
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.25)  # the last packets land; nothing is sent after `end`
    rec.active = False
    return sent


async def measure_slice(server: Server, n: int, seconds: float, into: Result, tag: str) -> None:
    rec = Recorder()
    paths = await open_paths(server, n, rec, tag)
    try:
        cpu0 = server.cpu()
        into.sent += await paced_run(paths, rec, seconds, warmup=0.5)
        into.cpu_seconds += server.cpu() - cpu0
        into.seconds += seconds
    finally:
        await asyncio.gather(*(p.close() for p in paths))
    into.latencies_ns += rec.latencies


async def saturate(server: Server, seconds: float, n: int = 32, window: int = 8) -> tuple[float, float]:
    """Closed loop client -> peer: each arrival triggers the next send.

    Returns (packets/s, relay CPU microseconds per packet). On a small machine the Python load
    generator saturates first, so the CPU cost per packet is the figure to compare."""
    rec = Recorder()
    paths = await open_paths(server, n, rec, f"sat-{server.label}")
    count = 0
    done = False

    def again(index: int) -> None:
        nonlocal count
        count += 1
        if not done:
            paths[index].up(payload(index, 0))

    try:
        rec.on_receive = again
        for i, path in enumerate(paths):
            for _ in range(window):
                path.up(payload(i, 0))
        await asyncio.sleep(0.5)  # warm up
        count = 0
        t0, cpu0 = time.perf_counter(), server.cpu()
        await asyncio.sleep(seconds)
        rate = count / (time.perf_counter() - t0)
        cpu_us = (server.cpu() - cpu0) / max(count, 1) * 1e6
        done = True
        rec.on_receive = None
        await asyncio.sleep(0.2)
        return rate, cpu_us
    finally:
        await asyncio.gather(*(p.close() for p in paths))


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` to ``cpus`` (coturn runs several threads)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def servers(with_coturn: bool, relay_cpus: set[int] | None) -> Iterator[list[Server]]:
    limits = Limits(max_allocations_per_user=10, max_allocations_total=1000)
    embedded = EmbeddedTurn(
        "127.0.0.1", 0, SECRET, REALM, allow_loopback=True, max_allocations=1000, log_level="WARNING"
    )
    embedded.start()
    coturn = None
    try:
        found = [Server("direct", None, None), Server("embedded", embedded.port, embedded.pid)]
        if with_coturn:
            coturn = CoturnProcess(SECRET, REALM, policy=PeerPolicy(allow_loopback=True), limits=limits)
            coturn.start()
            found.append(Server("coturn", coturn.port, coturn.pid))
        if relay_cpus:
            for server in found:
                if server.pid is not None:
                    pin(server.pid, relay_cpus)
        yield found
    finally:
        embedded.stop()
        if coturn is not None:
            coturn.stop()


def print_table(results: list[Result], saturation: dict[str, tuple[float, float]]) -> None:
    direct = {r.count: r for r in results if r.label == "direct"}
    head = (
        f"{'server':<9} {'allocs':>6} {'sent':>7} {'recv pkt/s':>10} {'loss %':>6} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'added p50':>9} {'added p99':>9} {'srv cpu':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        base = direct.get(r.count)
        added50 = added99 = cpu = "-"
        if r.label != "direct" and base is not None:
            added50 = f"{r.pct(0.50) - base.pct(0.50):.3f}"
            added99 = f"{r.pct(0.99) - base.pct(0.99):.3f}"
            cpu = f"{100 * r.cpu_seconds / r.seconds:.0f}%"
        print(
            f"{r.label:<9} {r.count:>6} {r.sent:>7} {r.received / r.seconds:>10.0f} {r.loss:>6.2f} "
            f"{r.pct(0.50):>7.3f} {r.pct(0.99):>7.3f} {added50:>9} {added99:>9} {cpu:>7}"
        )
    print()
    print("closed-loop saturation, client -> peer, 32 allocations x 8 in flight:")
    for label, (rate, cpu_us) in saturation.items():
        cost = f", relay CPU {cpu_us:.1f} us/packet" if label != "direct" else " (no relay)"
        print(f"  {label:<9} {rate:>9.0f} packets/s{cost}")
    by = {(r.label, r.count): r for r in results}
    if all(k in by for k in (("embedded", 50), ("coturn", 50), ("direct", 50))):
        e, c, d = by[("embedded", 50)], by[("coturn", 50)], by[("direct", 50)]
        print()
        print("at 50 allocations (target: embedded within 2x of coturn):")
        for q, name in ((0.5, "p50"), (0.99, "p99")):
            ea, ca = e.pct(q) - d.pct(q), c.pct(q) - d.pct(q)
            added = f"x{ea / ca:.2f}" if ca > 0 else "n/a"
            print(
                f"  {name}: one-way latency embedded {e.pct(q):.3f} ms, coturn {c.pct(q):.3f} ms "
                f"(x{e.pct(q) / c.pct(q):.2f}); added by the relay {ea:.3f} vs {ca:.3f} ms ({added})"
            )


async def main_async(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.counts.split(",")]
    saturation: dict[str, tuple[float, float]] = {}
    relay_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            # The load generator on one core, the relays on the others: each measured packet
            # then crosses cores the same way for every server, and neither the generator nor
            # the relay waits for the other to yield its core.
            os.sched_setaffinity(0, {cpus[0]})
            relay_cpus = set(cpus[1:])
    with servers(not args.no_coturn, relay_cpus) as found:
        results = {(s.label, n): Result(s.label, n) for n in counts for s in found}
        slice_seconds = args.seconds / args.rounds
        for round_ in range(args.rounds):
            for n in counts:
                for server in found:
                    print(f"... round {round_ + 1}: {server.label} with {n} allocations", file=sys.stderr, flush=True)
                    tag = f"{server.label}-{n}-{round_}"
                    await measure_slice(server, n, slice_seconds, results[(server.label, n)], tag)
        for server in found:
            saturation[server.label] = await saturate(server, args.saturation_seconds)
    print(
        f"{RATE} packets/s per allocation ({PAYLOAD} bytes, alternating direction), "
        f"{args.seconds:g} s per row in {args.rounds} interleaved slices"
    )
    print_table([results[(s.label, n)] for n in counts for s in found], saturation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per row (all slices)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices per row")
    parser.add_argument("--counts", default="1,50,200", help="concurrent allocations per row")
    parser.add_argument("--saturation-seconds", type=float, default=3.0)
    parser.add_argument("--no-coturn", action="store_true", help="only the embedded server")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin the generator and the relays to separate cores"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
