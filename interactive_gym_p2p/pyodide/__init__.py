"""The pinned Pyodide, self-hosted: the pin, the local cache, and fetching into it.

``python -m interactive_gym_p2p.pyodide fetch`` fills the cache; the server
(:mod:`interactive_gym_p2p.server.pyodide`) checks it at start and serves it from its own origin.
Modules: ``pin`` (version and checksums), ``cache`` (where, and whether it is intact), ``lock``
(pyodide-lock.json, what scenes need), ``npm`` (the core tarball), ``packages`` (Pyodide's
package repository), ``fetch`` and ``cli``. Checked downloads and the npm tarball work are
shared with onnxruntime-web (``..downloads``, ``..npm_tarball``).
Importing this package does nothing.
"""
