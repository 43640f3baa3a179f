"""One player's inputs by game-global frame (``static/js/input_queue.js``): the confirmed,
contiguous run, the predictions handed out for frames not confirmed yet, and the first frame
where a prediction turned out wrong. Prediction = repeat the last confirmed input (the default
action before any). A fixed ring, so a long game allocates nothing per frame."""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

NO_FRAME = -1

# add() results
ADDED = "added"
MISPREDICTED = "mispredicted"
DUPLICATE = "duplicate"
GAP = "gap"
IGNORED = "ignored"


class InputQueue:
    """Inputs of one player; ``capacity`` frames kept (a power of two >= 16)."""

    __slots__ = ("player", "default_action", "capacity", "mask", "actions", "predicted",
                 "predicted_value", "last_confirmed_frame", "first_incorrect_frame",
                 "default_from", "mispredictions")

    def __init__(self, player: int, default_action: int = 0, capacity: int = 4096) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 16 or capacity & (capacity - 1):
            raise ValueError(f"InputQueue capacity must be a power of two >= 16, got {capacity!r}")
        self.player = player
        self.default_action = default_action
        self.capacity = capacity
        self.mask = capacity - 1
        self.actions = [0] * capacity
        self.predicted = [False] * capacity  # a prediction was used to simulate this frame
        self.predicted_value = [0] * capacity
        self.last_confirmed_frame = NO_FRAME  # end of the contiguous run 0..last_confirmed_frame
        self.first_incorrect_frame = NO_FRAME  # first frame simulated with a wrong prediction
        self.default_from: int | None = None  # from here on: default action (agreed disconnect)
        self.mispredictions = 0

    def confirmed_up_to(self) -> float:
        """Highest frame whose input is known for sure (inf once default_from covers the rest)."""
        return math.inf if self.default_from is not None else self.last_confirmed_frame

    def is_confirmed(self, frame: int) -> bool:
        return frame <= self.last_confirmed_frame or self.default_from is not None

    def add(self, frame: int, action: int) -> str:
        """Add the confirmed input of ``frame`` (in frame order): ``added``, ``mispredicted``
        (added, and the prediction used for it was wrong), ``duplicate``, ``gap`` or ``ignored``."""
        if frame <= self.last_confirmed_frame:
            return DUPLICATE
        if frame != self.last_confirmed_frame + 1:
            return GAP
        if self.default_from is not None and frame >= self.default_from:
            return IGNORED
        i = frame & self.mask
        self.actions[i] = action
        self.last_confirmed_frame = frame
        if self.predicted[i]:
            self.predicted[i] = False
            if self.predicted_value[i] != action:
                self._mark_incorrect(frame)
                return MISPREDICTED
        return ADDED

    def _mark_incorrect(self, frame: int) -> None:
        self.mispredictions += 1
        if self.first_incorrect_frame == NO_FRAME or frame < self.first_incorrect_frame:
            self.first_incorrect_frame = frame

    def confirmed(self, frame: int) -> int:
        """Confirmed input of ``frame`` (the caller checks is_confirmed)."""
        if frame <= self.last_confirmed_frame:
            if frame < self.last_confirmed_frame - self.mask:
                raise IndexError(f"InputQueue(player {self.player}): frame {frame} is no longer stored")
            return self.actions[frame & self.mask]
        return self.default_action

    def prediction(self) -> int:
        if self.last_confirmed_frame >= 0:
            return self.actions[self.last_confirmed_frame & self.mask]
        return self.default_action

    def input_for(self, frame: int) -> int:
        """Input to simulate ``frame`` with; a prediction is remembered for later checking."""
        if self.is_confirmed(frame):
            return self.confirmed(frame)
        value = self.prediction()
        i = frame & self.mask
        self.predicted[i] = True
        self.predicted_value[i] = value
        return value

    def discard_predictions_from(self, frame: int, to_frame: int) -> None:
        """Forget predictions of ``frame..to_frame`` (those frames are no longer simulated)."""
        end = min(to_frame, frame + self.capacity - 1)
        for f in range(max(frame, self.last_confirmed_frame + 1), end + 1):
            self.predicted[f & self.mask] = False

    def reset_incorrect(self) -> None:
        self.first_incorrect_frame = NO_FRAME

    def set_default_from(self, frame: int, upto_simulated_frame: int) -> list[int]:
        """From ``frame`` on the input is the default action; returns the frames simulated
        with a prediction other than the default (now marked incorrect)."""
        if frame != self.last_confirmed_frame + 1:
            raise ValueError(
                f"InputQueue(player {self.player}): default from {frame} must follow the last "
                f"confirmed input ({self.last_confirmed_frame})")
        self.default_from = frame
        wrong: list[int] = []
        for f in range(frame, upto_simulated_frame + 1):
            i = f & self.mask
            if self.predicted[i]:
                self.predicted[i] = False
                if self.predicted_value[i] != self.default_action:
                    self._mark_incorrect(f)
                    wrong.append(f)
        return wrong
