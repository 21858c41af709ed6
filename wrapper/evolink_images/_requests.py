"""The request types callers build, and their translation into the generated client's models.

They hold whatever they are given: checking is ``validate()``'s job (``_rules.py``), so that a bad
value becomes a ``RequestValidationError`` that names the field, never a ``TypeError`` from a
constructor.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ._local_images import ImageSource

if TYPE_CHECKING:
    from evolink_api.models import QwenImageEditRequest, WanImageToImageRequest

__all__ = ["ImageEditRequest", "QwenImageEdit", "WanImageToImage", "to_api_body"]


@dataclass(frozen=True)
class WanImageToImage:
    """An edit with ``wan2.5-image-to-image``: 1 or 2 input images, ``n`` from 1 to 4 results.

    Args:
        prompt: how to edit the images, 1 to 2000 characters.
        image_urls: 1 or 2 images (each at most 10 MB, JPEG, PNG, BMP or WEBP, sides within
            [360, 5000] px): absolute http(s) URLs the service can fetch, or local images (a
            ``pathlib.Path``, ``bytes`` or a binary file object: JPEG, PNG or WEBP), uploaded to
            EvoLink's file host on submit.
        n: how many images to make (pre-charged by ``n``, billed by images made); default 1.
        callback_url: an https URL, at most 2048 characters, on a public host.
        extra_body: undocumented fields to send as they are, on purpose (the escape hatch).
    """

    MODEL: ClassVar[str] = "wan2.5-image-to-image"

    prompt: str
    image_urls: Sequence[ImageSource]
    n: int | None = None
    callback_url: str | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name sent as ``model``."""
        return self.MODEL


@dataclass(frozen=True)
class QwenImageEdit:
    """An edit with ``qwen-image-edit``: 1 to 3 input images; this model has no ``n``.

    Args:
        prompt: how to edit the images, 1 to 2000 characters.
        image_urls: 1 to 3 images (JPEG, PNG, BMP, WEBP or TIFF, sides within [384, 3072] px):
            absolute http(s) URLs the service can fetch, or local images (a ``pathlib.Path``,
            ``bytes`` or a binary file object: JPEG, PNG or WEBP), uploaded on submit.
        callback_url: an https URL, at most 2048 characters, on a public host.
        extra_body: undocumented fields to send as they are, on purpose (the escape hatch).
    """

    MODEL: ClassVar[str] = "qwen-image-edit"

    prompt: str
    image_urls: Sequence[ImageSource]
    callback_url: str | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model name sent as ``model``."""
        return self.MODEL


ImageEditRequest = WanImageToImage | QwenImageEdit


@functools.cache
def _body_types() -> tuple[type[WanImageToImageRequest], type[QwenImageEditRequest]]:
    """The generated body models plus the caller's ``extra_body`` fields.

    Built on the first submit, not at import: the generated models take a third of the package's
    import time, and ``import evolink_images`` should stay cheap.
    """
    from evolink_api.models import QwenImageEditRequest, WanImageToImageRequest

    class WanBody(WanImageToImageRequest):
        extra: Mapping[str, Any]

        def to_dict(self) -> dict[str, Any]:
            return {**super().to_dict(), **self.extra}

    class QwenBody(QwenImageEditRequest):
        extra: Mapping[str, Any]

        def to_dict(self) -> dict[str, Any]:
            return {**super().to_dict(), **self.extra}

    return WanBody, QwenBody


def to_api_body(
    request: ImageEditRequest, image_urls: Sequence[str] | None = None
) -> WanImageToImageRequest | QwenImageEditRequest:
    """Translate a validated request into the generated client's body model.

    ``image_urls`` replaces the request's own (whose local images have been uploaded by then); without
    it, every item must already be a URL.
    """
    from evolink_api.types import UNSET

    urls = list(image_urls) if image_urls is not None else [str(url) for url in request.image_urls]
    if image_urls is None and not all(isinstance(url, str) for url in request.image_urls):
        raise TypeError("a request with local images is sent with the URLs of their uploads")
    wan_body, qwen_body = _body_types()
    callback_url = UNSET if request.callback_url is None else request.callback_url
    body: WanImageToImageRequest | QwenImageEditRequest
    if isinstance(request, WanImageToImage):
        body = wan_body(
            model="wan2.5-image-to-image",
            prompt=request.prompt,
            image_urls=urls,
            n=UNSET if request.n is None else request.n,
            callback_url=callback_url,
        )
    else:
        body = qwen_body(
            model="qwen-image-edit",
            prompt=request.prompt,
            image_urls=urls,
            callback_url=callback_url,
        )
    body.extra = dict(request.extra_body)  # type: ignore[union-attr]
    return body
