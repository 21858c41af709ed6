"""Real image bytes for the fake's result URLs, with nothing but the standard library.

A PNG encoder of a few lines: a gradient whose colours come from the prompt, so each edit gives a
visibly different, valid image that any viewer (and Pillow) opens.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["gradient_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def gradient_png(width: int, height: int, seed: str) -> bytes:
    """Return an RGB PNG of ``width`` x ``height``: a diagonal gradient coloured by ``seed``."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    start, end = digest[0:3], digest[3:6]
    rows = []
    span = max(width + height - 2, 1)
    for y in range(height):
        row = bytearray(b"\x00")  # filter type 0 for each scanline
        for x in range(width):
            t = (x + y) / span
            row += bytes(int(a + (b - a) * t) for a, b in zip(start, end, strict=True))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )
