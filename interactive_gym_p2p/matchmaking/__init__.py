"""Matchmaking: matchers, RTT estimates, probes' verdicts, conditions, bots, the decision log.

``settings`` holds what a scene declares (``P2PGymScene.matchmaking/waiting_room/conditions``),
``matchers`` decides who plays whom, ``conditions`` assigns conditions and keeps the completed
counts, ``decisions`` writes the JSON-lines decision log, ``bots`` starts bot processes.
Signaling (``interactive_gym_p2p.signaling.core``) drives them. See ``docs/matchmaking.md``.
"""

from __future__ import annotations

from .matchers import Candidate, Decision, FifoMatcher, LatencyFifoMatcher, MatchView, estimate_rtt_ms, make_matcher
from .settings import Condition, MatchmakingSettings, WaitingRoomSettings

__all__ = [
    "Candidate",
    "Condition",
    "Decision",
    "FifoMatcher",
    "LatencyFifoMatcher",
    "MatchView",
    "MatchmakingSettings",
    "WaitingRoomSettings",
    "estimate_rtt_ms",
    "make_matcher",
]
