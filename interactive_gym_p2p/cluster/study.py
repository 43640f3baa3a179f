"""One server process's part in a study that several processes serve through one Redis."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import open_redis, redact, shared_secret, study_prefix
from .processes import ProcessRoll, new_process_id

if TYPE_CHECKING:  # pragma: no cover
    import redis

    from ..console.redis_store import RedisConsoleStore
    from ..participants.redis_store import RedisParticipantStore
    from ..participants.store import FileParticipantStore
    from ..signaling.redis_store import RedisSignalingStore

logger = logging.getLogger(__name__)


@dataclass
class SharedStudy:
    url: str
    client: "redis.Redis"
    prefix: str
    """Every key of the study starts with it (``igp2p:<experiment_id>:``)."""
    roll: ProcessRoll

    @classmethod
    def open(cls, url: str, experiment_id: str | None, dead_after_s: float = 5.0) -> "SharedStudy":
        client = open_redis(url)
        prefix = study_prefix(experiment_id)
        roll = ProcessRoll(client, prefix, new_process_id(), dead_after_s=dead_after_s)
        others = [p for p, beat in roll.members().items() if beat > 0]
        logger.info("sharing the study through Redis %s (keys %s*) as process %s; %d other process(es) on the roll",
                    redact(url), prefix, roll.process_id, len(others))
        return cls(url, client, prefix, roll)

    @property
    def process_id(self) -> str:
        return self.roll.process_id

    def secret(self) -> bytes:
        """The study's server secret when none was configured (made by the first process)."""
        return shared_secret(self.client, self.prefix)

    def signaling_store(self) -> "RedisSignalingStore":
        from ..signaling.redis_store import RedisSignalingStore

        return RedisSignalingStore(self.client, self.prefix + "sig:")

    def console_store(self, recruitment_file: Path | None) -> "RedisConsoleStore":
        from ..console.redis_store import RedisConsoleStore

        return RedisConsoleStore(self.client, self.prefix + "console:", recruitment_file=recruitment_file)

    def participant_store(self, files: "FileParticipantStore | None") -> "RedisParticipantStore":
        """Participant records, outcomes (first one wins across processes) and flow states;
        ``files``: the data directory's copy (None: the experiment saves no data)."""
        from ..participants.redis_store import RedisParticipantStore

        return RedisParticipantStore(self.client, self.prefix + "participants:", files)

    def client_manager(self) -> Any:
        """Socket.IO's message queue on the same Redis: an event for a socket held by another
        process reaches it there (Flask-SocketIO's ``message_queue``)."""
        from .message_queue import RedisMessageQueue

        return RedisMessageQueue(self.url, channel=self.prefix + "socketio")
