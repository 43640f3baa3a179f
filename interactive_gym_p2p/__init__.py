"""Peer-to-peer multiplayer with rollback netcode and sync validation for Interactive Gym.

The researcher's touch point is :class:`P2PGymScene`; everything else (server, signaling,
TURN, validation) is reached through it or through the ``interactive-gym-p2p`` command.
Importing this package has no side effects: submodules load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["P2PGymScene", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .scene import P2PGymScene


def __getattr__(name: str) -> Any:
    # Lazy: the scene pulls in interactive_gym, which is heavier than a codec user needs.
    if name == "P2PGymScene":
        from .scene import P2PGymScene

        return P2PGymScene
    raise AttributeError(f"module 'interactive_gym_p2p' has no attribute {name!r}")
