"""Log of confirmed frames per episode (``static/js/record.js``): ``rows()`` gives the
export's ``[frame, [actions...], "hash16" | None]`` rows. Actions live in one flat list and
hashes in another, so a long game holds no per-frame objects beyond them."""

from __future__ import annotations

import logging
from typing import Sequence

logger = logging.getLogger(__name__)


class EpisodeLog:
    def __init__(self, episode: int, seed: int, start_frame: int, num_players: int) -> None:
        self.episode = episode
        self.seed = seed
        self.start_frame = start_frame
        self.num_players = num_players
        self.end_frame: int | None = None
        self.count = 0
        self._actions: list[int] = []
        self._hashes: list[str | None] = []

    @property
    def last_frame(self) -> int | None:
        return None if self.count == 0 else self.start_frame + self.count - 1

    def append(self, frame: int, actions: Sequence[int], hash_: str | None) -> None:
        if frame != self.start_frame + self.count:
            raise ValueError(f"EpisodeLog {self.episode}: expected frame {self.start_frame + self.count}, got {frame}")
        self._actions.extend(actions[: self.num_players])
        self._hashes.append(hash_)
        self.count += 1

    def seal(self) -> None:
        """The episode is over (nothing to give back in Python; kept for symmetry)."""

    def hash_of(self, frame: int) -> str | None:
        i = frame - self.start_frame
        if i < 0 or i >= self.count:
            return None
        return self._hashes[i]

    def actions_of(self, frame: int) -> list[int]:
        i = (frame - self.start_frame) * self.num_players
        return self._actions[i:i + self.num_players]

    def rows(self) -> list[list]:
        n = self.num_players
        a = self._actions
        return [[self.start_frame + i, a[i * n:(i + 1) * n], self._hashes[i]] for i in range(self.count)]
