"""The onnxruntime-web this package serves to a hosted seat's host page, pinned.

The version and integrity are package-lock.json's (tests/test_onnxruntime_web.py fails while
they differ, and prints the checksums of ``node_modules/onnxruntime-web/dist`` to copy here
after a bump). The files are the wasm build the page loads (``static/js/hosted_policy.js``):
the ES module it imports and the single-threaded-capable SIMD runtime that module loads.
"""

from __future__ import annotations

from ..npm_tarball import NpmPin

VERSION = "1.31.1"
"""The npm ``onnxruntime-web`` version (package.json's devDependencies pin the same)."""
TARBALL_INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
"""npm's Subresource Integrity string of the registry tarball (package-lock.json has the same)."""
FILES: dict[str, tuple[str, int]] = {
    "ort.wasm.min.mjs": ("c21d9c326d453a4a61398270c804d5979e118540597cb0c07f7b3d64e6098234", 53725),
    "ort-wasm-simd-threaded.mjs": ("30ed0b5cd1182ede931fea448afb567d4dc705ec957af09f108a2be5f770dac3", 24738),
    "ort-wasm-simd-threaded.wasm": ("4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d", 14848852),
}
"""Served file name -> (SHA-256 hex, size in bytes); in the tarball under ``package/dist/``."""
MODULE = "ort.wasm.min.mjs"
"""The file the page imports (the others are loaded by it)."""

PIN = NpmPin("onnxruntime-web", VERSION, TARBALL_INTEGRITY, FILES, tarball_dir="dist/")
