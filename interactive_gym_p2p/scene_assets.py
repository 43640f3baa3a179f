"""The image files a P2P scene names, checked and served by the experiment's own server.

Interactive Gym scenes list what the renderer needs in ``rendering(assets_to_preload=...)``
(and ``preload_specs``): ``ImgSpec``, ``AtlasSpec``, ``MultiAtlasSpec`` dicts (``.as_dict()``),
plus Phaser's ``spritesheet`` form. Here every file they name is found on disk when the
server starts (a relative path is relative to the directory the server runs in), atlas JSON
is parsed, and each file gets a content-addressed URL ``/p2p/assets/<sha256-16>/<name>``
(immutable, so browsers may cache it for good). The browser gets those URLs in the scene
payload and loads every texture before the game starts; nothing is fetched from elsewhere,
so an offline lab works.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from .scene_settings import SceneConfigError

URL_PREFIX = "/p2p/assets/"
KINDS = ("img_spec", "atlas_spec", "multi_atlas_spec", "spritesheet")
MAX_ATLAS_JSON_BYTES = 16 * 1024 * 1024


def spec_dict(spec: Any) -> Any:
    """An ``ImgSpec``/``AtlasSpec``/... object or its ``as_dict()`` as a plain dict."""
    as_dict = getattr(spec, "as_dict", None)
    return as_dict() if callable(as_dict) and not isinstance(spec, Mapping) else spec


def check_asset_specs(setting: str, specs: Any) -> list[dict[str, Any]]:
    """The shape of each spec (files are looked at when the server starts)."""
    if not isinstance(specs, (list, tuple)):
        raise SceneConfigError(setting, f"must be a list of ImgSpec/AtlasSpec/MultiAtlasSpec dicts, got {specs!r}")
    out = []
    names: set[str] = set()
    for i, raw in enumerate(specs):
        where = f"{setting}[{i}]"
        spec = spec_dict(raw)
        if not isinstance(spec, Mapping):
            raise SceneConfigError(where, f"must be a spec dict (ImgSpec(...).as_dict()), got {raw!r}")
        kind = spec.get("object_type")
        if kind not in KINDS:
            raise SceneConfigError(where, f"object_type must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise SceneConfigError(where, f"needs a texture name ('name'), got {name!r}")
        if name in names:
            raise SceneConfigError(where, f"texture name {name!r} is used twice")
        names.add(name)
        keys = ["img_path"] + (["atlas_path"] if kind in ("atlas_spec", "multi_atlas_spec") else [])
        for key in keys:
            value = spec.get(key)
            if not isinstance(value, str) or (not value and not (kind == "multi_atlas_spec" and key == "img_path")):
                raise SceneConfigError(f"{where}[{key!r}]", f"must be a file path, got {value!r}")
            if "://" in value or value.startswith("data:"):
                raise SceneConfigError(
                    f"{where}[{key!r}]",
                    f"must be a file on this machine, got the URL {value!r}: the experiment's server serves every asset "
                    "itself (so an offline lab works); download the file and give its path",
                )
        if kind == "spritesheet":
            for key in ("frame_width", "frame_height"):
                value = spec.get(key)
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise SceneConfigError(f"{where}[{key!r}]", f"must be a positive integer (pixels), got {value!r}")
        out.append(dict(spec))
    return out


@dataclass(frozen=True)
class SceneAssets:
    """A scene's textures as the browser loads them (the scene payload's ``rendering.textures``)."""

    textures: tuple[dict[str, Any], ...] = ()
    """Per texture: ``{name, kind: 'image'|'atlas'|'multiatlas'|'spritesheet', image: url,
    atlas: url|None, images: [url, ...]|None (multiatlas: one per ``textures[i]``),
    frame_width, frame_height (spritesheet)}``."""

    models: tuple[tuple[str, str], ...] = ()
    """Hosted seats' ONNX files: ``(policy_mapping path, url)``."""

    def payload(self) -> list[dict[str, Any]]:
        return [dict(t, images=None if t["images"] is None else list(t["images"])) for t in self.textures]


class AssetFiles:
    """Files found so far, each with its URL; shared by every scene of an experiment."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.files: dict[str, Path] = {}
        self._urls: dict[Path, str] = {}

    def resolve(self, where: str, path: str) -> Path:
        candidate = Path(path)
        full = candidate if candidate.is_absolute() else self.base_dir / candidate
        if not full.is_file():
            raise SceneConfigError(
                where,
                f"{path!r} is not a file (looked for {full}). P2P serves a scene's asset files itself: give a path "
                f"relative to the directory the server starts in ({self.base_dir}) or an absolute path "
                "(rendering(assets_dir) is not used to find it)",
            )
        return full.resolve()

    def url(self, file: Path) -> str:
        if file in self._urls:
            return self._urls[file]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        key = f"{digest}/{file.name}"
        self.files[key] = file
        self._urls[file] = URL_PREFIX + key
        return self._urls[file]


def _read_json(where: str, file: Path) -> Any:
    if file.stat().st_size > MAX_ATLAS_JSON_BYTES:
        raise SceneConfigError(where, f"{file} is larger than {MAX_ATLAS_JSON_BYTES} bytes")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SceneConfigError(where, f"{file} is not JSON: {exc}") from None


def _check_frames(where: str, frames: Any) -> None:
    if isinstance(frames, Mapping):
        items = list(frames.values())
    elif isinstance(frames, list):
        items = frames
        if any(not isinstance(f, Mapping) or not isinstance(f.get("filename"), str) for f in frames):
            raise SceneConfigError(where, "a JSON-array atlas needs a 'filename' in every frame")
    else:
        raise SceneConfigError(where, "has no 'frames' (a TexturePacker JSON hash or array)")
    for item in items:
        rect = item.get("frame") if isinstance(item, Mapping) else None
        if not isinstance(rect, Mapping) or not all(isinstance(rect.get(k), (int, float)) for k in ("x", "y", "w", "h")):
            raise SceneConfigError(where, f"frame {item!r} has no 'frame': {{x, y, w, h}}")
        if item.get("rotated") is True:
            raise SceneConfigError(
                where, f"frame {item.get('filename', item)!r} is rotated, which the canvas renderer does not draw; "
                "export the atlas without rotation (TexturePacker: 'Allow rotation' off)")


def resolve_scene_assets(scene_id: str, specs: list[dict[str, Any]], files: AssetFiles) -> SceneAssets:
    """Find every file the specs name; parse atlases; give each file its URL."""
    textures = []
    for i, spec in enumerate(specs):
        where = f"scene {scene_id!r} rendering(assets_to_preload)[{i}] ({spec.get('object_type')} {spec.get('name')!r})"
        kind = spec["object_type"]
        texture: dict[str, Any] = {"name": spec["name"], "atlas": None, "images": None}
        if kind == "img_spec":
            texture.update(kind="image", image=files.url(files.resolve(where, spec["img_path"])))
        elif kind == "spritesheet":
            texture.update(
                kind="spritesheet",
                image=files.url(files.resolve(where, spec["img_path"])),
                frame_width=spec["frame_width"],
                frame_height=spec["frame_height"],
            )
        elif kind == "atlas_spec":
            atlas = files.resolve(where, spec["atlas_path"])
            data = _read_json(where, atlas)
            _check_frames(f"{where}: {atlas}", data.get("frames") if isinstance(data, Mapping) else None)
            texture.update(kind="atlas", image=files.url(files.resolve(where, spec["img_path"])), atlas=files.url(atlas))
        else:  # multi_atlas_spec: img_path is the folder of the images the JSON names
            atlas = files.resolve(where, spec["atlas_path"])
            data = _read_json(where, atlas)
            pages = data.get("textures") if isinstance(data, Mapping) else None
            if not isinstance(pages, list) or not pages:
                raise SceneConfigError(where, f"{atlas} has no 'textures' list (a TexturePacker multi-atlas)")
            folder = spec["img_path"] or str(atlas.parent)
            images = []
            for j, page in enumerate(pages):
                image = page.get("image") if isinstance(page, Mapping) else None
                if not isinstance(image, str) or not image:
                    raise SceneConfigError(where, f"{atlas}: textures[{j}] has no 'image'")
                _check_frames(f"{where}: {atlas} textures[{j}]", page.get("frames"))
                images.append(files.url(files.resolve(where, str(PurePosixPath(folder) / image))))
            texture.update(kind="multiatlas", image=images[0], atlas=files.url(atlas), images=images)
        textures.append(texture)
    return SceneAssets(tuple(textures))
