"""The optional image preflight: fetch each input image and check it against the model's limits.

Off by default (``submit(..., preflight=True)`` turns it on); needs Pillow, from the ``preflight``
extra. The format is read from the bytes, never from the URL's extension. Each image is fetched
with a size cap (the model's limit, or ``FETCH_CAP`` where none is documented), without the API
key, from public hosts only (unless the client's ``base_url`` is loopback) and through checked
redirects (``_fetch.py``): the preflight runs on the caller's machine, so an image URL must not
make it fetch 169.254.169.254 or a private address. Every problem is reported like any other
``Violation`` of its ``image_urls[i]`` field.
"""

from __future__ import annotations

import io
from typing import Any

import httpx

from ._config import ConfigurationError
from ._errors import Violation
from ._fetch import FetchRefused
from ._rules import ModelRules

__all__ = ["FETCH_CAP", "ImageBuffer", "inspect_image", "unreachable"]

FETCH_CAP = 64 * 1024 * 1024
"""The most bytes fetched for a model with no documented size limit."""


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - the test environment has Pillow
        raise ConfigurationError("the image preflight needs Pillow: pip install 'evolink-images[preflight]'") from None
    return Image


class ImageBuffer:
    """Collects one input image's bytes up to its cap; ``problem`` says why it cannot be checked."""

    def __init__(self, index: int, response: httpx.Response, rules: ModelRules) -> None:
        self.field = f"image_urls[{index}]"
        self.cap = rules.image_max_bytes or FETCH_CAP
        self.rules = rules
        self.data = bytearray()
        self.problem: Violation | None = None
        if response.status_code != 200:
            self.problem = Violation(
                self.field, f"could not be fetched (HTTP {response.status_code})", "a reachable image"
            )

    def add(self, chunk: bytes) -> bool:
        """Append a chunk; return False (with ``problem`` set) once the image is over its cap."""
        self.data += chunk
        if len(self.data) > self.cap:
            limit = f"{self.cap} bytes" + ("" if self.rules.image_max_bytes else " (fetch cap)")
            self.problem = Violation(self.field, f"is over {self.cap} bytes", limit)
            return False
        return True

    def violations(self) -> list[Violation]:
        """Return what is wrong with the image (empty when it is within every limit)."""
        if self.problem is not None:
            return [self.problem]
        return inspect_image(self.field, bytes(self.data), self.rules)


def unreachable(index: int, error: Exception) -> Violation:
    """The violation of an input image that could not be fetched at all, or that this machine may not fetch."""
    if isinstance(error, FetchRefused):  # a host or redirect the preflight refuses: EvoLink could not reach it either
        return Violation(f"image_urls[{index}]", str(error), "an image on a public http(s) host")
    return Violation(f"image_urls[{index}]", f"could not be fetched ({type(error).__name__})", "a reachable image")


def inspect_image(field: str, data: bytes, rules: ModelRules) -> list[Violation]:
    """Check an image's real format and pixel dimensions against ``rules``."""
    image_module = _pillow()
    formats = ", ".join(sorted(rules.image_formats))
    try:
        with image_module.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
    except Exception:
        return [Violation(field, "is not an image that can be decoded", formats)]
    found = []
    if kind not in rules.image_formats:
        found.append(Violation(field, f"is {kind}", f"{formats} for {rules.model}"))
    low, high = rules.image_side
    if not (low <= width <= high and low <= height <= high):
        found.append(Violation(field, f"is {width}x{height} px", f"each side within [{low}, {high}] px"))
    return found
