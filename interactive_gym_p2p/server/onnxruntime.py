"""Where a hosted seat's host page loads onnxruntime-web from (docs/ai.md): decided once at start.

Only a server whose scenes have hosted seats (an ``.onnx`` file in a policy_mapping) needs it;
any other server neither looks for it nor serves it. In this order:

1. ``onnxruntime_url`` (``--onnxruntime-url``): the researcher's own copy of the pinned
   version's ``dist/`` folder, used as given;
2. ``onnxruntime_cdn`` (``--onnxruntime-cdn``): the public CDN, only when asked for;
3. the local copy (``--onnxruntime-dir``, else the cache of ``python -m
   interactive_gym_p2p.onnxruntime_web fetch``, else ``node_modules/onnxruntime-web/dist`` of a
   clone), served from this origin at ``/p2p/onnxruntime/<version>/`` after every file matched
   its pinned SHA-256;
4. nothing: the server refuses to start, naming the fetch command.

The page uses the wasm build with one thread, so it needs no cross-origin isolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import resources
from ..onnxruntime_web import local, pin

ONNXRUNTIME_VERSION = pin.VERSION
ONNXRUNTIME_URL = f"/p2p/onnxruntime/{ONNXRUNTIME_VERSION}/"
"""Where the local copy is served (the version in the path lets browsers keep it for good)."""
ONNXRUNTIME_FILES = tuple(pin.FILES)
"""The ES module the page imports and the wasm build it loads."""
CDN_URL = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{ONNXRUNTIME_VERSION}/dist/"


class OnnxRuntimeUnavailable(RuntimeError):
    """Hosted seats but no onnxruntime-web the host's page could load; the message says what to run."""


@dataclass(frozen=True)
class OnnxRuntimeSource:
    """The server's choice, as the page and the routes use it."""

    kind: str
    """"local", "url" (the researcher's URL) or "cdn"."""
    url: str
    """The folder the page imports ``ort.wasm.min.mjs`` from (``config.onnxruntime_url``)."""
    description: str
    """One line for the log."""
    folder: Path | None = None
    """Local only: the checked folder served at ONNXRUNTIME_URL."""


def hosted_scenes(experiment: Any) -> list[str]:
    """The scenes of a loaded experiment that have hosted seats."""
    return sorted(scene_id for scene_id, assets in experiment.scene_assets.items() if assets.models)


def _search_paths() -> tuple[Path, ...]:
    # node_modules of a clone (npm ci): the working directory, then the checkout.
    bases = [Path.cwd()]
    try:
        bases.append(resources.static_dir().parent)
    except FileNotFoundError:
        pass
    return tuple(dict.fromkeys(bases))


def _alternatives() -> str:
    return ("Or point the host's page elsewhere: --onnxruntime-url URL (a copy of onnxruntime-web "
            f"{ONNXRUNTIME_VERSION}'s dist/ you host), or --onnxruntime-cdn (the public CDN {CDN_URL}; every "
            "hosting participant then depends on it).")


def choose_onnxruntime(*, url: str | None = None, cdn: bool = False,
                       onnxruntime_dir: Path | None = None) -> OnnxRuntimeSource:
    """The source the host's page loads onnxruntime-web from (see the module's docstring).

    Raises OnnxRuntimeUnavailable when the local copy is missing, stale or corrupted."""
    if url:
        base = url if url.endswith("/") else url + "/"
        return OnnxRuntimeSource("url", base, f"the URL given by the researcher, {base} (not checked by this server)")
    if cdn:
        return OnnxRuntimeSource("cdn", CDN_URL, f"the public CDN {CDN_URL} (--onnxruntime-cdn): every hosting "
                                 "participant's browser depends on it")
    found = local.find(onnxruntime_dir, _search_paths())
    if found.folder is None:
        lines = [f"A scene has hosted seats (an .onnx file in policy_mapping), whose host page runs the model with "
                 f"onnxruntime-web {ONNXRUNTIME_VERSION} served by this server, but there is no local copy "
                 f"(looked in {', '.join(found.looked)})."]
        if found.other_versions:
            lines.append(f"{found.root} holds only onnxruntime-web {', '.join(found.other_versions)}: this version of "
                         f"interactive-gym-p2p pins {ONNXRUNTIME_VERSION} (a stale cache).")
        lines.append(f"Fetch the pinned onnxruntime-web once with:  {local.fetch_command(found.root)}")
        lines.append(_alternatives())
        raise OnnxRuntimeUnavailable("\n".join(lines))
    problems = local.problems(found.folder)
    if problems:
        if found.kind == "folder":
            hint = ("Reinstall it (`npm ci` for a clone's node_modules), or fetch the pinned copy with:  "
                    + local.fetch_command(None))
        else:
            hint = f"Repair it with:  {local.fetch_command(found.root)}"
        raise OnnxRuntimeUnavailable(f"The local onnxruntime-web in {found.folder} cannot be served (this version "
                                     f"of interactive-gym-p2p pins {ONNXRUNTIME_VERSION}): " + "; ".join(problems)
                                     + f".\n{hint}")
    where = "the local cache" if found.kind == "cache" else "the local folder"
    return OnnxRuntimeSource(
        "local", ONNXRUNTIME_URL,
        f"{where} {found.folder} ({len(ONNXRUNTIME_FILES)} files checked against the pin), served at {ONNXRUNTIME_URL}",
        folder=found.folder)


def onnxruntime_for(config: Any, experiment: Any) -> OnnxRuntimeSource | None:
    """:func:`choose_onnxruntime` for a ServerConfig when a scene of ``experiment`` has hosted
    seats; None (nothing looked for, nothing served) when none has."""
    if not hosted_scenes(experiment):
        return None
    return choose_onnxruntime(url=config.onnxruntime_url, cdn=config.onnxruntime_cdn,
                              onnxruntime_dir=config.onnxruntime_dir)
