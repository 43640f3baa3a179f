"""Client -> server signaling messages: parsed, checked and rebuilt, never trusted as sent.

A parser returns either a typed message or a :class:`Refusal` (code + message); it never
raises on network input. Relayed payloads are rebuilt from the checked fields only, so a
peer receives exactly the documented shape and nothing else a sender tucked in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..validation.ids import identifier_problem
from .limits import SignalingLimits

SIGNAL_KINDS = ("offer", "answer", "candidate", "restart")


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True)
class Signal:
    game_id: str
    to: int
    kind: str
    data: dict[str, Any] | None
    """offer/answer: {"type", "sdp"}; candidate: {"candidate", "sdpMid", "sdpMLineIndex",
    "usernameFragment"}, or None for end-of-candidates; restart: None (the answering side
    asks the offering side for an ICE restart)."""


@dataclass(frozen=True)
class Relay:
    game_id: str
    to: int
    data: bytes


@dataclass(frozen=True)
class GameRef:
    game_id: str


@dataclass(frozen=True)
class JoinRequest:
    """``join``: take a seat or a place in the waiting room."""

    playing: str | None = None
    """The game this page still plays (its WebRTC connections are up): its signaling socket
    reconnected (a network blip, or the server process it talked to died), nothing to
    renegotiate. None: a fresh page."""


@dataclass(frozen=True)
class ConnectionFailure:
    """``connection_failed``: the sender's WebRTC connection to its game's peers failed."""

    game_id: str
    code: str
    """The client's error code (connect_timeout, ice_failed, ...)."""
    detail: str


@dataclass(frozen=True)
class ProbeReport:
    """``probe_result``: what one member of a probe measured."""

    probe_id: str
    rtt_ms: dict[int, list[float]]
    """RTT samples to each peer of the probe, by its probe index."""
    path: dict[str, Any] | None
    error: str | None


MAX_PROBE_SAMPLES = 50
PATH_FIELDS = ("kind", "protocol", "local_candidate_type", "remote_candidate_type")


def _malformed(event: str, why: str) -> Refusal:
    return Refusal("malformed", f"{event}: {why}")


def _game_and_target(event: str, payload: Any, need_target: bool, id_field: str = "game_id") -> tuple[str, int] | Refusal:
    if not isinstance(payload, dict):
        return _malformed(event, f"the payload must be an object, got {type(payload).__name__}")
    game_id = payload.get(id_field)
    problem = identifier_problem(game_id)
    if problem is not None:
        return _malformed(event, f"{id_field} is invalid: {problem}")
    if not need_target:
        return game_id, -1
    to = payload.get("to")
    if isinstance(to, bool) or not isinstance(to, int) or not 0 <= to <= 255:
        return _malformed(event, f"'to' must be a player index from 0 to 255, got {to!r}")
    return game_id, to


def _optional_str(value: Any, limit: int) -> tuple[bool, str | None]:
    if value is None:
        return True, None
    if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) <= limit:
        return True, value
    return False, None


def parse_signal(payload: Any, limits: SignalingLimits, event: str = "signal", id_field: str = "game_id") -> Signal | Refusal:
    """A ``signal`` (or, with ``event="probe_signal", id_field="probe_id"``, a probe's signal;
    its ``Signal.game_id`` is then the probe id)."""
    head = _game_and_target(event, payload, need_target=True, id_field=id_field)
    if isinstance(head, Refusal):
        return head
    game_id, to = head
    kind = payload.get("kind")
    if kind not in SIGNAL_KINDS:
        return _malformed(event, f"kind must be one of {', '.join(SIGNAL_KINDS)}, got {kind!r}")
    data = payload.get("data")
    if kind == "restart":
        if data is not None:
            return _malformed(event, "data of a restart must be null")
        return Signal(game_id, to, kind, None)
    if kind in ("offer", "answer"):
        if not isinstance(data, dict) or data.get("type") != kind or not isinstance(data.get("sdp"), str):
            return _malformed(event, f"data of an {kind} must be {{type: '{kind}', sdp: string}}")
        size = len(data["sdp"].encode("utf-8", "surrogatepass"))
        if size > limits.max_sdp_bytes:
            return Refusal("oversized", f"{event}: the SDP is {size} bytes, at most {limits.max_sdp_bytes} are relayed")
        return Signal(game_id, to, kind, {"type": kind, "sdp": data["sdp"]})
    if data is None:
        return Signal(game_id, to, kind, None)  # end of candidates
    if not isinstance(data, dict) or not isinstance(data.get("candidate"), str):
        return _malformed(event, "data of a candidate must be {candidate: string, sdpMid, sdpMLineIndex} or null")
    size = len(data["candidate"].encode("utf-8", "surrogatepass"))
    if size > limits.max_candidate_bytes:
        return Refusal("oversized", f"{event}: the candidate is {size} bytes, at most {limits.max_candidate_bytes} are relayed")
    ok_mid, mid = _optional_str(data.get("sdpMid"), 256)
    ok_frag, frag = _optional_str(data.get("usernameFragment"), 256)
    line = data.get("sdpMLineIndex")
    ok_line = line is None or (not isinstance(line, bool) and isinstance(line, int) and 0 <= line <= 65535)
    if not (ok_mid and ok_frag and ok_line):
        return _malformed(event, "sdpMid/usernameFragment must be short strings or null, sdpMLineIndex 0..65535 or null")
    return Signal(
        game_id, to, kind, {"candidate": data["candidate"], "sdpMid": mid, "sdpMLineIndex": line, "usernameFragment": frag}
    )


def parse_relay(payload: Any, limits: SignalingLimits) -> Relay | Refusal:
    head = _game_and_target("relay", payload, need_target=True)
    if isinstance(head, Refusal):
        return head
    game_id, to = head
    data = payload.get("data")
    if not isinstance(data, (bytes, bytearray)):
        return _malformed("relay", f"data must be binary, got {type(data).__name__}")
    if not data or len(data) > limits.max_relay_bytes:
        return Refusal("oversized", f"relay: {len(data)} bytes; 1 to {limits.max_relay_bytes} are relayed")
    return Relay(game_id, to, bytes(data))


def parse_game_ref(event: str, payload: Any) -> GameRef | Refusal:
    head = _game_and_target(event, payload, need_target=False)
    if isinstance(head, Refusal):
        return head
    return GameRef(head[0])


def parse_join(payload: Any) -> JoinRequest | Refusal:
    if payload is None:
        return JoinRequest()
    if not isinstance(payload, dict):
        return _malformed("join", f"the payload must be an object or nothing, got {type(payload).__name__}")
    playing = payload.get("game_id")
    if playing is not None:
        problem = identifier_problem(playing)
        if problem is not None:
            return _malformed("join", f"game_id is invalid: {problem}")
    return JoinRequest(playing)


def parse_connection_failed(payload: Any) -> ConnectionFailure | Refusal:
    head = _game_and_target("connection_failed", payload, need_target=False)
    if isinstance(head, Refusal):
        return head
    code = payload.get("code", "connect_failed")
    detail = payload.get("detail", "")
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        return _malformed("connection_failed", f"code must be a short string, got {code!r}")
    if not isinstance(detail, str):
        return _malformed("connection_failed", f"detail must be a string, got {type(detail).__name__}")
    return ConnectionFailure(head[0], code, detail[:500])


def parse_probe_result(payload: Any) -> ProbeReport | Refusal:
    """``{probe_id, rtt_ms: {peer_index: [ms, ...]}, path: {kind, protocol, ...} | null, error: str | null}``."""
    event = "probe_result"
    head = _game_and_target(event, payload, need_target=False, id_field="probe_id")
    if isinstance(head, Refusal):
        return head
    raw = payload.get("rtt_ms") or {}
    if not isinstance(raw, dict) or len(raw) > 8:
        return _malformed(event, "rtt_ms must be an object {peer_index: [milliseconds, ...]}")
    samples: dict[int, list[float]] = {}
    for key, values in raw.items():
        try:
            peer = int(key)
        except (TypeError, ValueError):
            return _malformed(event, f"rtt_ms keys are peer indices, got {key!r}")
        if not 0 <= peer <= 255 or not isinstance(values, list) or len(values) > MAX_PROBE_SAMPLES:
            return _malformed(event, f"rtt_ms[{key!r}] must be a list of at most {MAX_PROBE_SAMPLES} numbers")
        clean = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 600_000:
                return _malformed(event, f"rtt_ms[{key!r}] holds {v!r}, not a number of milliseconds")
            clean.append(float(v))
        samples[peer] = clean
    path = payload.get("path")
    if path is not None:
        if not isinstance(path, dict):
            return _malformed(event, "path must be an object or null")
        path = {k: path.get(k) if isinstance(path.get(k), str) and len(path.get(k)) <= 32 else None for k in PATH_FIELDS}
    error = payload.get("error")
    if error is not None and (not isinstance(error, str) or len(error) > 200):
        return _malformed(event, "error must be a short string or null")
    return ProbeReport(head[0], samples, path, error)
