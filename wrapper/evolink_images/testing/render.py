"""The fake's image edits: a real, visible transformation of the input that follows the prompt (Pillow).

Keywords in the prompt pick the edit: night or stars (dark blue sky, stars, a moon), sepia or
vintage, snow or winter, invert or negative, blur or dream; anything else posterises and shifts the
colours. Every result carries the prompt as a caption, and variation ``index`` differs from the
others (its own star field, its own tint), so ``n`` results are ``n`` different images.
"""

from __future__ import annotations

import io
import random
from typing import Any

__all__ = ["edit_image", "sample_scene"]


def _pillow() -> tuple[Any, Any, Any, Any]:
    from PIL import Image, ImageDraw, ImageFilter, ImageOps

    return Image, ImageDraw, ImageFilter, ImageOps


def sample_scene(width: int = 640, height: int = 448) -> bytes:
    """A small daytime landscape (sky, sun, hills, a house) as PNG: the demo's input image."""
    image_module, draw_module, _, _ = _pillow()
    image = image_module.new("RGB", (width, height))
    draw = draw_module.Draw(image)
    for y in range(height):
        shade = int(170 + 70 * y / height)
        draw.line([(0, y), (width, y)], fill=(110, shade, 255))
    draw.ellipse([width - 150, 40, width - 70, 120], fill=(255, 220, 80))
    draw.polygon([(0, height), (0, 300), (180, 230), (380, 320), (width, 250), (width, height)], fill=(70, 150, 70))
    draw.rectangle([200, 270, 320, 360], fill=(200, 80, 60))
    draw.polygon([(190, 270), (260, 215), (330, 270)], fill=(120, 50, 40))
    draw.rectangle([245, 310, 275, 360], fill=(90, 60, 30))
    return _png(image)


def edit_image(source: bytes, prompt: str, index: int = 0) -> bytes:
    """Return ``source`` edited as ``prompt`` asks (variation ``index``), as PNG."""
    image_module, draw_module, image_filter, image_ops = _pillow()
    with image_module.open(io.BytesIO(source)) as opened:
        image = opened.convert("RGB")
    words = prompt.lower()
    rng = random.Random(f"{prompt}#{index}")  # noqa: S311 - star positions, not secrets
    if "night" in words or "star" in words:
        image = image_module.blend(image, image_module.new("RGB", image.size, (10, 20, 70)), 0.65)
        draw = draw_module.Draw(image)
        for _ in range(120):
            x, y = rng.randrange(image.width), rng.randrange(int(image.height * 0.6))
            size = rng.choice([1, 1, 2])
            draw.ellipse([x, y, x + size, y + size], fill=(255, 255, 230))
        draw.ellipse([40 + 30 * index, 30, 100 + 30 * index, 90], fill=(245, 245, 210))
    elif "sepia" in words or "vintage" in words:
        image = image_ops.colorize(image_ops.grayscale(image), (40 + 10 * index, 26, 13), (255, 240, 192))
    elif "snow" in words or "winter" in words:
        image = image_module.blend(image, image_module.new("RGB", image.size, (235, 240, 255)), 0.45)
        draw = draw_module.Draw(image)
        for _ in range(300):
            x, y = rng.randrange(image.width), rng.randrange(image.height)
            draw.ellipse([x, y, x + 3, y + 3], fill=(255, 255, 255))
    elif "invert" in words or "negative" in words:
        image = image_ops.invert(image)
    elif "blur" in words or "dream" in words:
        image = image.filter(image_filter.GaussianBlur(4 + 2 * index))
    else:
        image = image_ops.posterize(image, 3)
        red, green, blue = image.split()
        image = image_module.merge("RGB", [(red, green, blue), (green, blue, red), (blue, red, green)][index % 3])
    _caption(image, draw_module, f"{prompt}  (variation {index + 1})")
    return _png(image)


def _caption(image: Any, draw_module: Any, text: str) -> None:
    draw = draw_module.Draw(image)
    band = 22
    draw.rectangle([0, image.height - band, image.width, image.height], fill=(0, 0, 0))
    draw.text((8, image.height - band + 5), text[:90], fill=(255, 255, 255))


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
