"""The server's async modes, and making the standard library cooperative for one.

Kept apart from the server package so the command line can patch before anything heavy
(Flask, Socket.IO, Redis's client) is imported: eventlet asks for its patch to come first.
"""

from __future__ import annotations

import signal
from typing import Any

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


def stop_on_sigterm(mode: str) -> None:
    """SIGTERM (``kill``, systemd, a container stop) ends the server as Ctrl-C does: SystemExit
    in the code that serves (its ``finally`` cleans up). Call from the thread that serves.

    The handler runs in whatever is running when the signal comes; under eventlet or gevent
    that may be an event handler's green thread, where Socket.IO catches and logs the exit.
    So the exit is thrown into the green thread that serves, from the hub."""
    if mode in ("eventlet", "gevent"):
        import greenlet

        serving = greenlet.getcurrent()

        def handler(signum: int, frame: Any) -> None:
            if greenlet.getcurrent() is serving:
                raise SystemExit(0)
            if mode == "eventlet":
                from eventlet import hubs

                hubs.get_hub().schedule_call_global(0, serving.throw, SystemExit(0))
            else:
                import gevent

                gevent.get_hub().loop.run_callback(serving.throw, SystemExit(0))
    else:
        def handler(signum: int, frame: Any) -> None:
            raise SystemExit(0)  # Python runs signal handlers in the main thread: the serving one

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:
        pass  # not the main thread (an embedding program's thread): its owner handles signals
