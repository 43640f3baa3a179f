"""Signaling tickets: the proof a socket shows to take a seat for one scene visit.

The participant flow issues a ticket when it shows a P2P scene to a participant; the
browser (or a Python peer) presents it as the ``auth`` of the signaling namespace. A ticket
is an HMAC over (subject id, scene id, visit) with the server secret: no table, valid
across a restart given the same secret, and useless for any other subject, scene or visit,
so knowing a subject id is not enough to take over their seat after a reload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from ..validation.ids import identifier_problem
from .records import Slot

_CONTEXT = b"interactive-gym-p2p signaling ticket v1\x00"
_PREFIX = "t1"
MAX_TICKET_CHARS = 512


class TicketError(ValueError):
    """A ticket that is malformed, forged, or names an invalid slot."""


@dataclass(frozen=True)
class SignalingTickets:
    secret: bytes

    def _mac(self, body: str) -> str:
        return hmac.new(self.secret, _CONTEXT + body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, subject_id: str, scene_id: str, visit: int) -> str:
        body = base64.urlsafe_b64encode(
            json.dumps([subject_id, scene_id, int(visit)], separators=(",", ":")).encode()
        ).decode().rstrip("=")
        return f"{_PREFIX}.{body}.{self._mac(body)}"

    def verify(self, ticket: object) -> Slot:
        """The slot a genuine ticket names; :class:`TicketError` otherwise."""
        if not isinstance(ticket, str) or len(ticket) > MAX_TICKET_CHARS:
            raise TicketError("the ticket must be a string of at most 512 characters")
        parts = ticket.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX:
            raise TicketError("the ticket is malformed")
        body, mac = parts[1], parts[2]
        if not hmac.compare_digest(self._mac(body).encode(), mac.encode()):
            raise TicketError("the ticket was not issued by this server (or the server secret changed)")
        try:
            subject_id, scene_id, visit = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError, TypeError) as exc:  # only reachable with a forged MAC
            raise TicketError("the ticket is malformed") from exc
        for what, value in (("subject id", subject_id), ("scene id", scene_id)):
            problem = identifier_problem(value)
            if problem is not None:
                raise TicketError(f"the ticket's {what} is invalid: {problem}")
        if isinstance(visit, bool) or not isinstance(visit, int) or visit < 0:
            raise TicketError("the ticket's visit is invalid")
        return Slot(subject_id=subject_id, scene_id=scene_id, visit=visit)
