from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="FileData")


@_attrs_define
class FileData:
    """A stored file. The vendor marks no field required; `file_url` is required here because an
    answer without it cannot be used. Every member may be joined by others: they are kept.
    Times are ISO 8601 date-times; a file expires 72 hours after upload.

    """

    file_url: str
    """ The public URL to put in `image_urls` (e.g. `https://files.evolink.ai/<path>/<name>`). """
    file_id: str | Unset = UNSET
    """ The file's id on the host. """
    file_name: str | Unset = UNSET
    """ The name it is stored under. """
    original_name: str | Unset = UNSET
    """ The name it was uploaded with. """
    file_size: int | Unset = UNSET
    """ Its size in bytes. """
    mime_type: str | Unset = UNSET
    """ Its type, detected from the content: `image/jpeg`, `image/png`, `image/gif` or
    `image/webp` today. Open: new values may appear.
     """
    upload_path: str | Unset = UNSET
    """ The folder it was stored in. """
    download_url: str | Unset = UNSET
    """ A URL that downloads the file. """
    upload_time: str | Unset = UNSET
    """ When it was uploaded (ISO 8601). """
    expires_at: str | Unset = UNSET
    """ When it is deleted (ISO 8601), 72 hours after upload. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        file_url = self.file_url

        file_id = self.file_id

        file_name = self.file_name

        original_name = self.original_name

        file_size = self.file_size

        mime_type = self.mime_type

        upload_path = self.upload_path

        download_url = self.download_url

        upload_time = self.upload_time

        expires_at = self.expires_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "file_url": file_url,
            }
        )
        if file_id is not UNSET:
            field_dict["file_id"] = file_id
        if file_name is not UNSET:
            field_dict["file_name"] = file_name
        if original_name is not UNSET:
            field_dict["original_name"] = original_name
        if file_size is not UNSET:
            field_dict["file_size"] = file_size
        if mime_type is not UNSET:
            field_dict["mime_type"] = mime_type
        if upload_path is not UNSET:
            field_dict["upload_path"] = upload_path
        if download_url is not UNSET:
            field_dict["download_url"] = download_url
        if upload_time is not UNSET:
            field_dict["upload_time"] = upload_time
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        file_url = d.pop("file_url")

        file_id = d.pop("file_id", UNSET)

        file_name = d.pop("file_name", UNSET)

        original_name = d.pop("original_name", UNSET)

        file_size = d.pop("file_size", UNSET)

        mime_type = d.pop("mime_type", UNSET)

        upload_path = d.pop("upload_path", UNSET)

        download_url = d.pop("download_url", UNSET)

        upload_time = d.pop("upload_time", UNSET)

        expires_at = d.pop("expires_at", UNSET)

        file_data = cls(
            file_url=file_url,
            file_id=file_id,
            file_name=file_name,
            original_name=original_name,
            file_size=file_size,
            mime_type=mime_type,
            upload_path=upload_path,
            download_url=download_url,
            upload_time=upload_time,
            expires_at=expires_at,
        )

        file_data.additional_properties = d
        return file_data

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
