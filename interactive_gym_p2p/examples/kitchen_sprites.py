"""Writes Kitchen's sprites: ``kitchen_assets/kitchen.png`` (a 16 x 16 pixel-art atlas) and
``kitchen_assets/kitchen.json`` (TexturePacker JSON hash, the format Interactive Gym's
``AtlasSpec`` loads). Drawn here from rectangles and circles, stdlib only (zlib PNG), so the
art is ours and rebuilding it needs nothing installed.

    python -m interactive_gym_p2p.examples.kitchen_sprites [OUT_DIR]
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Callable

S = 16  # pixels per sprite
Pixel = tuple[int, int, int, int]
Canvas = list[list[Pixel]]

CHEF_COLORS = ((239, 68, 68), (59, 130, 246), (34, 197, 94), (234, 179, 8))
CLEAR: Pixel = (0, 0, 0, 0)


def _hex(rgb: tuple[int, int, int], a: int = 255) -> Pixel:
    return (rgb[0], rgb[1], rgb[2], a)


def _blank(fill: Pixel = CLEAR) -> Canvas:
    return [[fill] * S for _ in range(S)]


def _rect(c: Canvas, x0: int, y0: int, x1: int, y1: int, color: Pixel) -> None:
    for y in range(max(0, y0), min(S, y1)):
        for x in range(max(0, x0), min(S, x1)):
            c[y][x] = color


def _disc(c: Canvas, cx: float, cy: float, r: float, color: Pixel) -> None:
    for y in range(S):
        for x in range(S):
            if (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r:
                c[y][x] = color


def floor() -> Canvas:
    c = _blank((196, 164, 132, 255))
    for y in range(S):
        for x in range(S):
            if (x // 4 + y // 4) % 2:
                c[y][x] = (184, 152, 120, 255)
    return c


def counter() -> Canvas:
    c = _blank((120, 84, 52, 255))
    _rect(c, 0, 0, S, 3, (150, 110, 72, 255))
    _rect(c, 0, S - 1, S, S, (80, 56, 34, 255))
    return c


def crate(item: Callable[[Canvas, int, int, int], None]) -> Canvas:
    c = counter()
    _rect(c, 2, 4, 14, 14, (92, 64, 40, 255))
    item(c, 8, 9, 4)
    return c


def _onion(c: Canvas, cx: int, cy: int, r: int) -> None:
    _disc(c, cx, cy, r, (200, 120, 200, 255))
    _rect(c, cx - 1, cy - r - 2, cx + 1, cy - r + 1, (60, 160, 60, 255))


def _dish(c: Canvas, cx: int, cy: int, r: int) -> None:
    _disc(c, cx, cy, r + 1, (230, 230, 235, 255))
    _disc(c, cx, cy, r - 1, (205, 205, 215, 255))


def _soup(c: Canvas, cx: int, cy: int, r: int) -> None:
    _dish(c, cx, cy, r)
    _disc(c, cx, cy, r - 1, (230, 140, 40, 255))


def item_sprite(draw: Callable[[Canvas, int, int, int], None]) -> Canvas:
    c = _blank()
    draw(c, 8, 9, 5)
    return c


def pot(onions: int, state: str = "") -> Canvas:
    c = counter()
    _rect(c, 2, 5, 14, 14, (60, 60, 66, 255))
    _rect(c, 1, 6, 2, 9, (40, 40, 44, 255))
    _rect(c, 14, 6, 15, 9, (40, 40, 44, 255))
    fill = {"cooking": (200, 90, 40, 255), "ready": (240, 150, 40, 255)}.get(state)
    if fill:
        _rect(c, 3, 6, 13, 9, fill)
        if state == "ready":
            _rect(c, 6, 1, 7, 4, (240, 240, 240, 255))
            _rect(c, 9, 0, 10, 4, (240, 240, 240, 255))
    for i in range(onions):
        _disc(c, 5 + 3 * i, 8, 1.6, (200, 120, 200, 255))
    return c


def window() -> Canvas:
    c = counter()
    _rect(c, 2, 3, 14, 13, (90, 170, 220, 255))
    _rect(c, 7, 3, 9, 13, (60, 120, 170, 255))
    return c


def chef(rgb: tuple[int, int, int], facing: str) -> Canvas:
    c = _blank()
    _disc(c, 8, 10, 5.5, _hex(rgb))  # body
    _disc(c, 8, 6, 3.5, (250, 220, 190, 255))  # head
    _rect(c, 5, 1, 11, 4, (250, 250, 250, 255))  # hat
    eye = {"u": None, "d": ((6, 6), (9, 6)), "l": ((5, 6),), "r": ((10, 6),)}[facing]
    for x, y in eye or ():
        _rect(c, x, y, x + 1, y + 1, (30, 30, 30, 255))
    if facing == "u":
        _rect(c, 5, 4, 11, 6, (120, 80, 40, 255))  # the back of the head
    return c


def sprites() -> dict[str, Canvas]:
    out = {
        "floor": floor(), "counter": counter(), "window": window(),
        "onion_crate": crate(_onion), "dish_crate": crate(_dish),
        "onion": item_sprite(_onion), "dish": item_sprite(_dish), "soup": item_sprite(_soup),
        "pot": pot(0), "pot_1": pot(1), "pot_2": pot(2), "pot_cooking": pot(3, "cooking"), "pot_ready": pot(3, "ready"),
    }
    for i, rgb in enumerate(CHEF_COLORS):
        for facing in "udlr":
            out[f"chef{i}_{facing}"] = chef(rgb, facing)
    return out


def png(width: int, height: int, rows: list[list[Pixel]]) -> bytes:
    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write(folder: Path) -> tuple[Path, Path]:
    """Write the atlas image and its JSON into ``folder``; returns both paths."""
    items = sorted(sprites().items())
    cols = 8
    rows_n = (len(items) + cols - 1) // cols
    width, height = cols * S, rows_n * S
    image = [[CLEAR] * width for _ in range(height)]
    frames = {}
    for i, (name, canvas) in enumerate(items):
        ox, oy = (i % cols) * S, (i // cols) * S
        for y in range(S):
            image[oy + y][ox:ox + S] = canvas[y]
        frames[name] = {"frame": {"x": ox, "y": oy, "w": S, "h": S}, "rotated": False, "trimmed": False,
                        "spriteSourceSize": {"x": 0, "y": 0, "w": S, "h": S}, "sourceSize": {"w": S, "h": S}}
    folder.mkdir(parents=True, exist_ok=True)
    png_path, json_path = folder / "kitchen.png", folder / "kitchen.json"
    png_path.write_bytes(png(width, height, image))
    meta = {"image": "kitchen.png", "format": "RGBA8888", "size": {"w": width, "h": height}, "scale": "1"}
    json_path.write_text(json.dumps({"frames": frames, "meta": meta}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return png_path, json_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parent / "kitchen_assets"
    for path in write(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
