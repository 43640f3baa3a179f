"""static/js/transport.js in real Chromium over real WebRTC DataChannels.

Two pages (separate browser contexts, like two participants) load a test page from a local
HTTP server; the test relays their signaling. Relay-only through coturn and through the
embedded TURN server (over UDP, and over TCP alone) on 127.0.0.1 (the path must be a TURN relay), once directly inside a network namespace with a veth pair
(the path must be host-to-host), and once with the seeded impairment shim, whose recorded
schedule must match what arrived.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from harness.session import BrowserSession
from interactive_gym_p2p.turn.credentials import ice_servers
from interactive_gym_p2p.turn.embedded import EmbeddedTurn

pytestmark = pytest.mark.e2e

CONNECT_TIMEOUT_MS = 20000
WAIT_MS = 30000


async def _open_pair(session: BrowserSession, base_url: str, config: dict) -> list:
    pages = [await session.new_page(i, f"{base_url}/transport.html") for i in range(2)]
    for i, page in enumerate(pages):
        await page.evaluate("(c) => window.p2pStart(c)", {**config, "selfIndex": i, "numPlayers": 2})
    for i, page in enumerate(pages):
        # Fail fast with the transport's own error if it reports one instead of opening.
        await page.wait_for_function(
            "() => p2p.events.some(e => e.type === 'open' || e.type === 'error')", timeout=WAIT_MS, polling=50)
        errors = await page.evaluate("() => p2p.events.filter(e => e.type === 'error')")
        assert errors == [], f"player {i} transport errors: {errors}"
        await page.wait_for_function(
            "() => p2p.events.some(e => e.type === 'path')", timeout=WAIT_MS, polling=50)
    return pages


# The game channel is unordered with no retransmits: any message may be lost (a burst sent
# right after open has been lost whole, before the TURN permission or the path had settled).
# So a test sends rounds of fresh sequence numbers until enough have arrived, never waits for
# one particular message, and checks that whatever arrives is intact and was sent.
ROUND = 5
ROUND_WAIT_MS = 300
PAYLOAD = 16


async def _send_until_received(pages: list, sender: int, receiver: int, count: int, first: int = 0) -> int:
    """Rounds of ``ROUND`` messages (sequence numbers from ``first`` on) from ``sender`` to
    ``receiver`` until ``count`` of them have arrived; returns how many were sent."""
    sent = 0
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        await pages[sender].evaluate("([p, n, size, first]) => window.p2pSendSequence(p, n, size, first)",
                                     [receiver, ROUND, PAYLOAD, first + sent])
        sent += ROUND
        try:
            await pages[receiver].wait_for_function(
                "([p, n]) => p2p.received.filter(r => r.peer === p).length >= n", arg=[sender, count],
                timeout=ROUND_WAIT_MS, polling=20)
            return sent
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                got = await pages[receiver].evaluate("(p) => p2p.received.filter(r => r.peer === p).length", sender)
                raise AssertionError(f"{got} of {sent} messages from player {sender} arrived within {WAIT_MS} ms") from None


async def _exchange(pages: list, count: int = 20) -> None:
    """Both directions: ``count`` messages arrive, each intact, as a Uint8Array, and only
    messages that were sent; the transport's counters match what was sent and what arrived."""
    sent = {}
    for sender, receiver in ((0, 1), (1, 0)):
        sent[sender] = await _send_until_received(pages, sender, receiver, count)
    for sender, receiver in ((0, 1), (1, 0)):
        got = await pages[receiver].evaluate("(p) => p2p.received.filter(r => r.peer === p).map(r => r.bytes)", sender)
        seqs = [b[0] << 8 | b[1] for b in got]
        assert len(seqs) >= count and len(set(seqs)) == len(seqs), f"duplicates or too few: {sorted(seqs)}"
        assert all(0 <= i < sent[sender] for i in seqs), f"never sent: {sorted(set(seqs) - set(range(sent[sender])))}"
        for b in got:
            i = b[0] << 8 | b[1]
            assert b[2:] == [(i * 31 + k) & 0xFF for k in range(PAYLOAD)]
    for i, page in enumerate(pages):
        # One evaluate: the counters and the list of arrivals are read at the same moment.
        s = await page.evaluate("() => ({stats: p2p.transport.stats(), received: p2p.received.length})")
        size = 2 + PAYLOAD
        # Sent counts what reached the channel; a message the transport could not send is dropped.
        assert s["stats"]["messagesDropped"] == 0, s
        assert s["stats"]["messagesSent"] == sent[i] and s["stats"]["bytesSent"] == sent[i] * size, s
        assert s["stats"]["messagesReceived"] == s["received"] and s["stats"]["bytesReceived"] == s["received"] * size, s


async def _relay_only_pair(session: BrowserSession, static_url: str, ice_servers, protocol: str, server_log) -> None:
    """Two pages, relay-only with ``ice_servers(player)``: the path is a TURN relay reached
    over ``protocol`` and messages cross it both ways."""
    config = {"iceTransportPolicy": "relay", "connectTimeoutMs": CONNECT_TIMEOUT_MS}
    pages = []
    for i in range(2):
        pages.append(await session.new_page(i, f"{static_url}/transport.html"))
    for i, page in enumerate(pages):
        await page.evaluate("(c) => window.p2pStart(c)", {
            **config, "selfIndex": i, "numPlayers": 2, "iceServers": ice_servers(f"player{i}")})
    for i, page in enumerate(pages):
        # 'open', not 'path': the ICE path is known (and reported) before the DataChannel opens,
        # and a message sent before that is dropped by the transport.
        await page.wait_for_function(
            "() => p2p.events.some(e => e.type === 'open' || e.type === 'error')", timeout=WAIT_MS, polling=50)
        errors = await page.evaluate("() => p2p.events.filter(e => e.type === 'error')")
        assert errors == [], f"player {i}: {errors}\nTURN server log:\n{server_log()}"
        await page.wait_for_function("() => p2p.events.some(e => e.type === 'path')", timeout=WAIT_MS, polling=50)
    await _exchange(pages)
    for i, page in enumerate(pages):
        summary = await page.evaluate("(p) => window.p2pSummary(p)", 1 - i)
        path = summary["path"]
        assert path["kind"] == "relay", json.dumps(path)
        assert path["localCandidateType"] == "relay", json.dumps(path)
        assert path["protocol"] == protocol, json.dumps(path)
        assert summary["state"] == "open"
    # The lower index made the only offer; the other side answered.
    offers = session.relay.kinds("offer")
    assert [(m.sender, m.to) for m in offers] == [(0, 1)]
    assert [(m.sender, m.to) for m in session.relay.kinds("answer")] == [(1, 0)]
    assert session.relay.kinds("candidate"), "trickle ICE candidates were relayed"
    assert session.relay.errors == []


def test_relay_only_through_coturn(coturn, static_url, chromium_available, artifacts_dir, request):
    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await _relay_only_pair(session, static_url, coturn.ice_servers, "udp", coturn.log_tail)

    asyncio.run(scenario())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_only_through_embedded_turn(transport, static_url, chromium_available, artifacts_dir, request, tmp_path):
    """Chromium's own TURN client against this package's server: only the one TURN URL of
    ``transport`` is offered (TCP is what Chromium falls back to when UDP is blocked)."""
    log_path = tmp_path / "turn.log"
    turn = EmbeddedTurn(host="127.0.0.1", port=0, allow_loopback=True, log_level="DEBUG", log_path=log_path)
    try:
        turn.start()
    except Exception as err:  # noqa: BLE001 - any start failure fails the test with its reason
        pytest.fail(f"embedded TURN server could not start: {err}", pytrace=False)
    url = next(u for u in turn.urls if u.endswith(f"?transport={transport}"))

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "(no log)"

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await _relay_only_pair(session, static_url, lambda pid: ice_servers([url], turn.secret, pid), transport, log_tail)

    try:
        asyncio.run(scenario())
    finally:
        turn.stop()


def test_direct_host_candidates_in_netns(netns_chromium, netns_static_url, artifacts_dir, request):
    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir, executable=netns_chromium, in_netns=True) as session:
            # No ICE servers at all: only host candidates can connect the two pages.
            pages = await _open_pair(session, netns_static_url, {"iceServers": [], "connectTimeoutMs": CONNECT_TIMEOUT_MS})
            await _exchange(pages)
            for i, page in enumerate(pages):
                path = (await page.evaluate("(p) => window.p2pSummary(p)", 1 - i))["path"]
                assert path["kind"] == "direct", json.dumps(path)
                assert path["localCandidateType"] == "host", json.dumps(path)
                assert path["remoteCandidateType"] in ("host", "prflx"), json.dumps(path)
                assert path["protocol"] == "udp", json.dumps(path)
                assert not path["localAddress"] or not path["localAddress"].startswith("127."), json.dumps(path)

    asyncio.run(scenario())


def test_impairment_shim_follows_the_seeded_schedule(netns_chromium, netns_static_url, artifacts_dir, request):
    impairment = {"seed": 4242, "delayMs": 40, "jitterMs": 15, "loss": 0.25, "duplicate": 0.05}

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir, executable=netns_chromium, in_netns=True) as session:
            pages = await _open_pair(session, netns_static_url, {
                "iceServers": [], "connectTimeoutMs": CONNECT_TIMEOUT_MS, "impairment": impairment})
            # Warm-up through the shim (fresh numbers from 1000 on) until one arrives: the path
            # carries messages before the measured burst, whose losses are then the shim's.
            warm = await _send_until_received(pages, 0, 1, 1, first=1000)
            count = 120
            await pages[0].evaluate("([p, n]) => window.p2pSendSequence(p, n, 4)", [1, count])
            full_log = (await pages[0].evaluate("(p) => window.p2pSummary(p)", 1))["impairmentLog"]
            assert len(full_log) == warm + count
            log = full_log[warm:]
            expected = sorted(i for i, e in enumerate(log) for _ in e["deliveries"])
            dropped = [i for i, e in enumerate(log) if not e["deliveries"]]
            assert 10 < len(dropped) < 60, f"{len(dropped)} of {count} dropped at loss 0.25"
            burst = "() => p2p.received.map(r => [r.bytes[0] << 8 | r.bytes[1], r.at]).filter(([s]) => s < 1000)"
            try:
                await pages[1].wait_for_function(f"(n) => ({burst})().length >= n", arg=len(expected),
                                                 timeout=WAIT_MS, polling=50)
            except PlaywrightTimeoutError:
                pass  # the channel itself may lose a scheduled delivery; what arrived is checked below
            got = await pages[1].evaluate(burst)
            arrived = sorted(seq for seq, _ in got)
            # Only scheduled deliveries arrive (a message the shim dropped never does, a duplicate
            # only when scheduled twice), and the real channel lost few if any.
            missing = list(expected)
            for seq in arrived:
                assert seq in missing, f"message {seq} arrived more often than scheduled ({log[seq]['deliveries']})"
                missing.remove(seq)
            assert len(arrived) >= len(expected) // 2, f"only {len(arrived)} of {len(expected)} scheduled deliveries arrived"
            sent_at = await pages[0].evaluate("() => p2p.sendTimes")
            for seq, at in got:
                # Every delivery waited at least the base delay (ms clock, 1 ms rounding slack).
                assert at - sent_at[str(seq)] >= impairment["delayMs"] - 1, (seq, at, sent_at[str(seq)])
            stats = await pages[0].evaluate("() => p2p.transport.stats()")
            warm_log = full_log[:warm]
            assert stats["messagesDropped"] == len(dropped) + sum(1 for e in warm_log if not e["deliveries"])
            assert stats["messagesSent"] == len(expected) + sum(len(e["deliveries"]) for e in warm_log)
            # Same seed, same schedule: an independent createImpairment with the per-link seed.
            twin = await pages[0].evaluate("""async ([imp, entries]) => {
                const { createImpairment } = await import('/static/js/impairment.js');
                const { linkSeed } = await import('/static/js/transport.js');
                const t = createImpairment({ ...imp, seed: linkSeed(imp.seed, 0, 1) });
                return entries.map(e => t.schedule(e.t, e.size));
            }""", [impairment, full_log])
            assert twin == [e["deliveries"] for e in full_log]

    asyncio.run(scenario())
