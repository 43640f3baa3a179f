"""Several server processes sharing one study through Redis (``--redis redis://...``).

``client`` opens the connection (and the secret every process must share), ``lock`` is the
fenced lock and atomic commit a store's transaction rests on, ``processes`` keeps the roll of
live server processes (heartbeats, the one sweeper, what to do when a process dies).
Stores built on these live beside their single-process twins (``signaling.redis_store``,
``console.redis_store``). Deployment: ``docs/deployment.md``.
"""
