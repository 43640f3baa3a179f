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


def _malformed(event: str, why: str) -> Refusal:
    return Refusal("malformed", f"{event}: {why}")


def _game_and_target(event: str, payload: Any, need_target: bool) -> tuple[str, int] | Refusal:
    if not isinstance(payload, dict):
        return _malformed(event, f"the payload must be an object, got {type(payload).__name__}")
    game_id = payload.get("game_id")
    problem = identifier_problem(game_id)
    if problem is not None:
        return _malformed(event, f"game_id is invalid: {problem}")
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


def parse_signal(payload: Any, limits: SignalingLimits) -> Signal | Refusal:
    head = _game_and_target("signal", payload, need_target=True)
    if isinstance(head, Refusal):
        return head
    game_id, to = head
    kind = payload.get("kind")
    if kind not in SIGNAL_KINDS:
        return _malformed("signal", f"kind must be one of {', '.join(SIGNAL_KINDS)}, got {kind!r}")
    data = payload.get("data")
    if kind == "restart":
        if data is not None:
            return _malformed("signal", "data of a restart must be null")
        return Signal(game_id, to, kind, None)
    if kind in ("offer", "answer"):
        if not isinstance(data, dict) or data.get("type") != kind or not isinstance(data.get("sdp"), str):
            return _malformed("signal", f"data of an {kind} must be {{type: '{kind}', sdp: string}}")
        size = len(data["sdp"].encode("utf-8", "surrogatepass"))
        if size > limits.max_sdp_bytes:
            return Refusal("oversized", f"signal: the SDP is {size} bytes, at most {limits.max_sdp_bytes} are relayed")
        return Signal(game_id, to, kind, {"type": kind, "sdp": data["sdp"]})
    if data is None:
        return Signal(game_id, to, kind, None)  # end of candidates
    if not isinstance(data, dict) or not isinstance(data.get("candidate"), str):
        return _malformed("signal", "data of a candidate must be {candidate: string, sdpMid, sdpMLineIndex} or null")
    size = len(data["candidate"].encode("utf-8", "surrogatepass"))
    if size > limits.max_candidate_bytes:
        return Refusal("oversized", f"signal: the candidate is {size} bytes, at most {limits.max_candidate_bytes} are relayed")
    ok_mid, mid = _optional_str(data.get("sdpMid"), 256)
    ok_frag, frag = _optional_str(data.get("usernameFragment"), 256)
    line = data.get("sdpMLineIndex")
    ok_line = line is None or (not isinstance(line, bool) and isinstance(line, int) and 0 <= line <= 65535)
    if not (ok_mid and ok_frag and ok_line):
        return _malformed("signal", "sdpMid/usernameFragment must be short strings or null, sdpMLineIndex 0..65535 or null")
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


def parse_join(payload: Any) -> None | Refusal:
    if payload is None or isinstance(payload, dict):
        return None
    return _malformed("join", f"the payload must be an object or nothing, got {type(payload).__name__}")
