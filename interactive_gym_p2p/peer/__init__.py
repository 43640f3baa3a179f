"""A headless Python peer: the browser client's rollback session, protocol and export in
CPython, over aiortc. Entry points: ``interactive_gym_p2p.peer.runner.run_peer`` and
``python -m interactive_gym_p2p.peer``. Importing this package starts nothing."""
