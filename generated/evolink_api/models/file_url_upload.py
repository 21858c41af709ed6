from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="FileUrlUpload")


@_attrs_define
class FileUrlUpload:
    """A public http(s) URL for the file host to download."""

    file_url: str
    """ An absolute http or https URI (RFC 3986 characters only: ASCII, percent-escapes) with a
    host name, an IPv4 address or a public IPv6 literal: a bracketed literal must be global
    unicast (2000::/3, written in full or with one `::` after its first group, no dotted tail),
    so internal literals such as `[::1]`, `[fd00::1]` or `[::ffff:169.254.169.254]` are refused
    (a deliberate narrowing of `format: uri`). The pattern is a subset of `format: uri`, so
    every engine agrees whether or not it checks formats; it ends with `$(?!\\n)`, "end of
    string" in Python's dialect as in ECMA-262.
     """
    upload_path: str | Unset = UNSET
    """ A folder name on the file host. """
    file_name: str | Unset = UNSET
    """ The name to store the file under. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        file_url = self.file_url

        upload_path = self.upload_path

        file_name = self.file_name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "file_url": file_url,
            }
        )
        if upload_path is not UNSET:
            field_dict["upload_path"] = upload_path
        if file_name is not UNSET:
            field_dict["file_name"] = file_name

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        file_url = d.pop("file_url")

        upload_path = d.pop("upload_path", UNSET)

        file_name = d.pop("file_name", UNSET)

        file_url_upload = cls(
            file_url=file_url,
            upload_path=upload_path,
            file_name=file_name,
        )

        file_url_upload.additional_properties = d
        return file_url_upload

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
