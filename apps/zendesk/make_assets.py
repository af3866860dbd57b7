"""The app's logos as PNG bytes, drawn with the standard library only (zlib + struct): no binary files to keep.

Zendesk wants assets/logo.png (320x320) and assets/logo-small.png (128x128) in the app package
(https://developer.zendesk.com/documentation/apps/app-developer-guide/setup/#app-assets). Run this file to write
them into a folder: `python3 apps/zendesk/make_assets.py OUT_DIR`.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

BACKGROUND = (9, 105, 218)  # blue
FOREGROUND = (255, 255, 255)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def logo_png(size: int) -> bytes:
    """A square RGB PNG: a white ring with a smile on blue, readable at 128 px and at 320 px."""
    centre, outer, inner = (size - 1) / 2, size * 0.40, size * 0.32
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 for every scanline
        for x in range(size):
            dx, dy = x - centre, y - centre
            distance = (dx * dx + dy * dy) ** 0.5
            ring = inner <= distance <= outer
            eyes = any(
                ((x - ex) ** 2 + (y - ey) ** 2) ** 0.5 <= size * 0.04
                for ex, ey in (
                    (centre - size * 0.12, centre - size * 0.08),
                    (centre + size * 0.12, centre - size * 0.08),
                )
            )
            smile = dy > size * 0.04 and size * 0.15 <= distance <= size * 0.20
            row += bytes(FOREGROUND if ring or eyes or smile else BACKGROUND)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


ASSETS = {"logo.png": 320, "logo-small.png": 128}


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in ASSETS.items():
        (folder / name).write_bytes(logo_png(size))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
