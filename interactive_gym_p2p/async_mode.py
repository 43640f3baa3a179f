"""The server's async modes, and making the standard library cooperative for one.

Kept apart from the server package so the command line can patch before anything heavy
(Flask, Socket.IO, Redis's client) is imported: eventlet asks for its patch to come first.
"""

from __future__ import annotations

ASYNC_MODES = ("eventlet", "gevent", "threading")


def patch_standard_library(mode: str) -> None:
    """eventlet or gevent: sockets, threads, locks and sleeps become green, so a wait on a
    network service (Redis) lets the other participants' events run. Call first thing."""
    if mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
