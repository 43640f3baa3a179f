"""The pinned onnxruntime-web, self-hosted, for hosted (ONNX) seats (docs/ai.md, docs/deployment.md).

``python -m interactive_gym_p2p.onnxruntime_web fetch`` fills the cache with the three files a
hosting page loads, from the npm registry's tarball of the pinned version; the server
(:mod:`interactive_gym_p2p.server.onnxruntime`) checks them at start and serves them from its own
origin. Modules: ``pin`` (version, integrity, checksums), ``local`` (where a copy lives, whether
it is intact, filling the cache) and ``cli``. The npm work is :mod:`interactive_gym_p2p.npm_tarball`'s,
shared with Pyodide. Importing this package does nothing.
"""
