"""Where browsers load onnxruntime-web from, for hosted seats (docs/ai.md): this server.

A hosted seat's host runs its ONNX model with onnxruntime-web's wasm build (one thread, so the
page needs no cross-origin isolation). The three files it needs are served from this origin at
``ONNXRUNTIME_URL``; they come from ``node_modules/onnxruntime-web/dist`` of a clone (``npm ci``:
package.json pins the version), found in the working directory, then beside the package. A
server whose scenes have hosted seats and that finds no copy refuses to start (never a CDN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import resources

ONNXRUNTIME_URL = "/p2p/onnxruntime/"
ONNXRUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
"""The ES module the page imports and the wasm build it loads (onnxruntime-web 1.31)."""


class OnnxRuntimeUnavailable(RuntimeError):
    """Hosted seats but no onnxruntime-web to serve; the message says what to run."""


def find_onnxruntime() -> Path | None:
    """``node_modules/onnxruntime-web/dist`` holding every served file, or None."""
    bases = [Path.cwd()]
    try:
        bases.append(resources.static_dir().parent)
    except FileNotFoundError:
        pass
    for base in dict.fromkeys(bases):
        folder = base / "node_modules" / "onnxruntime-web" / "dist"
        if all((folder / name).is_file() for name in ONNXRUNTIME_FILES):
            return folder
    return None


def onnxruntime_for(experiment: Any) -> Path | None:
    """The folder to serve when a scene of ``experiment`` has hosted seats (else None).

    Raises OnnxRuntimeUnavailable when one has and no copy is found."""
    hosted = [scene for scene in experiment.scene_assets.values() if scene.models]
    if not hosted:
        return None
    folder = find_onnxruntime()
    if folder is None:
        raise OnnxRuntimeUnavailable(
            "A scene has hosted seats (an .onnx file in policy_mapping), whose host runs the model with "
            "onnxruntime-web served by this server, but node_modules/onnxruntime-web/dist was not found "
            f"(looked in {Path.cwd()} and beside the package). Install it in the server's directory with:  "
            "npm ci   (or: npm install onnxruntime-web@1.31.1)")
    return folder
