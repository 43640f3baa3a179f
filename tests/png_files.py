"""Small PNG files made by tests (stdlib only): images and TexturePacker atlases for scenes."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Callable

Pixel = tuple[int, int, int, int]


def png_bytes(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """An RGBA PNG whose pixel (x, y) is ``pixel(x, y)``."""
    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_atlas(folder: Path, name: str, frames: dict[str, Pixel], size: int = 16) -> tuple[Path, Path]:
    """A horizontal strip of ``size``-pixel frames, each a colour with a 2-pixel dark border
    (so a wrong source rectangle shows), and its JSON hash atlas. Returns (png, json)."""
    names = list(frames)

    def pixel(x: int, y: int) -> Pixel:
        colour = frames[names[x // size]]
        lx, ly = x % size, y
        return (20, 20, 20, 255) if min(lx, ly, size - 1 - lx, size - 1 - ly) < 2 else colour

    png = folder / f"{name}.png"
    png.write_bytes(png_bytes(size * len(names), size, pixel))
    atlas = {
        "frames": {
            n: {"frame": {"x": i * size, "y": 0, "w": size, "h": size}, "rotated": False, "trimmed": False,
                "spriteSourceSize": {"x": 0, "y": 0, "w": size, "h": size}, "sourceSize": {"w": size, "h": size}}
            for i, n in enumerate(names)
        },
        "meta": {"image": png.name, "size": {"w": size * len(names), "h": size}, "scale": "1"},
    }
    js = folder / f"{name}.json"
    js.write_text(json.dumps(atlas), encoding="utf-8")
    return png, js
