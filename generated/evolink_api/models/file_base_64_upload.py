from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="FileBase64Upload")


@_attrs_define
class FileBase64Upload:
    """One file as base64, raw or as a data URL (`data:image/png;base64,...`)."""

    base64_data: str
    """ The file's bytes in base64, or a data URL. """
    upload_path: str | Unset = UNSET
    """ A folder name on the file host. """
    file_name: str | Unset = UNSET
    """ The name to store the file under. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        base64_data = self.base64_data

        upload_path = self.upload_path

        file_name = self.file_name

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "base64_data": base64_data,
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
        base64_data = d.pop("base64_data")

        upload_path = d.pop("upload_path", UNSET)

        file_name = d.pop("file_name", UNSET)

        file_base_64_upload = cls(
            base64_data=base64_data,
            upload_path=upload_path,
            file_name=file_name,
        )

        file_base_64_upload.additional_properties = d
        return file_base_64_upload

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
