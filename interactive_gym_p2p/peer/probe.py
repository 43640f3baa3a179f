"""A matchmaking probe in the headless peer: the twin of ``static/js/client_probe.js``.

Before the server forms a game it may ask the candidates to open a short WebRTC connection
to each other over the path the game would use (the same ``RtcMesh``: ICE servers, policy,
impairment shim) and to time PING/PONG round trips on it. The result goes back in
``probe_result``; the peer keeps answering PINGs until ``probe_end`` or the deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Mapping

from ..protocol import Ping, Pong, decode, encode
from .rtc import RtcError, RtcMesh

if TYPE_CHECKING:  # pragma: no cover
    from .signaling import PeerSignaling

logger = logging.getLogger(__name__)

PING_INTERVAL_S = 0.1
PATH_KEYS = ("kind", "protocol", "local_candidate_type", "remote_candidate_type")


def _ms() -> float:
    return time.monotonic() * 1000.0


async def run_probe(flow: PeerSignaling, probe: Mapping[str, Any], impairment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run one probe to its end (``probe_end`` or the deadline); returns what was reported.

    ``impairment``: this peer's own impairment (the CLI's ``--impair``); None: the probe's.
    """
    probe_id = str(probe["probe_id"])
    me = int(probe["player_index"])
    peers = [p for p in range(int(probe.get("num_players", 2))) if p != me]
    pings = max(1, int(probe.get("pings", 5)))
    timeout_s = max(1.0, float(probe.get("timeout_s", 10)))
    deadline = time.monotonic() + timeout_s
    samples: dict[int, list[float]] = {p: [] for p in peers}
    measured = asyncio.Event()
    ended = asyncio.Event()

    async def send_signal(to: int, kind: str, data: Any) -> None:
        await flow.probe_signal(probe_id, to, kind, data)

    mesh = RtcMesh(
        me, peers, send_signal,
        ice_servers=probe.get("ice_servers") or [],
        ice_transport_policy=probe.get("ice_transport_policy") or "all",
        impairment=dict(impairment) if impairment is not None else (probe.get("impairment") or None),
    )

    def on_message(peer: int, data: bytes) -> None:
        msg = decode(data)
        if isinstance(msg, Ping):
            mesh.send(peer, encode(Pong(msg.time)))
        elif isinstance(msg, Pong) and peer in samples and len(samples[peer]) < pings:
            samples[peer].append(max(0.0, _ms() - msg.time))
            if all(len(s) >= pings for s in samples.values()):
                measured.set()

    mesh.on_message = on_message
    flow.set_probe_handler(probe_id, mesh.handle_signal, ended)
    error: str | None = None
    try:
        await mesh.start()
        try:
            await mesh.wait_open(max(0.5, deadline - time.monotonic() - 1.5))
        except RtcError as exc:
            error = exc.code
        if error is None:
            for _ in range(pings * 2):
                for p in peers:
                    mesh.send(p, encode(Ping(0, _ms())))
                try:
                    await asyncio.wait_for(measured.wait(), PING_INTERVAL_S)
                    break
                except asyncio.TimeoutError:
                    pass
                if time.monotonic() > deadline - 1.0:
                    break
            if not measured.is_set():
                try:
                    await asyncio.wait_for(measured.wait(), max(0.0, min(1.0, deadline - time.monotonic() - 1.0)))
                except asyncio.TimeoutError:
                    error = "incomplete"
        path = mesh.path()
        report = {
            "probe_id": probe_id,
            "rtt_ms": {str(p): [round(v, 2) for v in s] for p, s in samples.items()},
            "path": None if path is None else {k: path.get(k) for k in PATH_KEYS},
            "error": error,
        }
        await flow.probe_result(report)
        # Keep answering the peers' PINGs until the server closes the probe.
        try:
            await asyncio.wait_for(ended.wait(), max(0.0, deadline - time.monotonic() + 1.0))
        except asyncio.TimeoutError:
            pass
        return report
    finally:
        flow.set_probe_handler(probe_id, None, None)
        await mesh.close()
