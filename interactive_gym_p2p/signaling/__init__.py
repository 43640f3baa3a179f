"""Signaling and matchmaking: waiting rooms, games, SDP/ICE relay, reconnects.

``core`` decides (no Socket.IO), ``namespace`` is the ``/p2p`` Socket.IO face, ``store``
holds the state behind an interface a multi-process store could implement, ``tickets``
proves which seat a socket may take, ``messages`` parses what clients send, ``limits``
rate- and size-limits it. The event contract is documented in ``docs/server.md``.
"""

from __future__ import annotations

from .core import Signaling, Transport, no_ice_servers
from .limits import Rate, SignalingLimits
from .records import GameEnd, GameInfo, PlayerInfo, SeatState, Slot
from .store import InMemoryStore, SignalingStore
from .tickets import SignalingTickets, TicketError

__all__ = [
    "GameEnd",
    "GameInfo",
    "InMemoryStore",
    "PlayerInfo",
    "Rate",
    "SeatState",
    "Signaling",
    "SignalingLimits",
    "SignalingStore",
    "SignalingTickets",
    "Slot",
    "TicketError",
    "Transport",
    "no_ice_servers",
]
