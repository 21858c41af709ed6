from __future__ import annotations

from collections.abc import Mapping
from typing import (
    Any,
    Literal,
    TypeVar,
    cast,
)

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="QwenImageEditRequest")


@_attrs_define
class QwenImageEditRequest:
    """Edit with `qwen-image-edit`. This model has no `n`. Each input image (checkable only by
    fetching it) is JPEG, PNG, BMP, WEBP or TIFF, with width and height each within
    [384, 3072] px; no byte size limit is documented.

    """

    model: Literal["qwen-image-edit"]
    """ The model name. """
    prompt: str
    """ How to edit the input images, 1 to 2000 characters (JSON Schema counts code points).
    The vendor's prose says "2000 tokens"; its schema says a maximum length of 2000.
     """
    image_urls: list[str]
    """ The input images, 1 to 3 absolute http(s) URLs the service can fetch directly. """
    callback_url: str | Unset = UNSET
    """ HTTPS URL called when the task completes, fails or is cancelled, after billing is settled,
    with the same body as `GET /v1/tasks/{task_id}`; 10 s timeout, up to 3 retries (1 s, 2 s,
    4 s); any 2xx counts as delivered. At most 2048 characters. Internal addresses are refused
    (127.0.0.1, 10.x.x.x, 172.16-31.x.x, 192.168.x.x and the like, in any notation, after
    percent-decoding: `https://%31%32%37.0.0.1/` is loopback); the pattern refuses internal IPv6
    literals as the ImageUrl pattern does, the rest JSON Schema cannot express: the client
    checks it. Callbacks are not signed: confirm by fetching the task.
     """

    def to_dict(self) -> dict[str, Any]:
        model = self.model

        prompt = self.prompt

        image_urls = self.image_urls

        callback_url = self.callback_url

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "model": model,
                "prompt": prompt,
                "image_urls": image_urls,
            }
        )
        if callback_url is not UNSET:
            field_dict["callback_url"] = callback_url

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        model = cast(Literal["qwen-image-edit"], d.pop("model"))
        if model != "qwen-image-edit":
            raise ValueError(f"model must match const 'qwen-image-edit', got '{model}'")

        prompt = d.pop("prompt")

        image_urls = cast(list[str], d.pop("image_urls"))

        callback_url = d.pop("callback_url", UNSET)

        qwen_image_edit_request = cls(
            model=model,
            prompt=prompt,
            image_urls=image_urls,
            callback_url=callback_url,
        )

        return qwen_image_edit_request
