from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from .. import types
from ..types import UNSET, File, Unset

T = TypeVar("T", bound="FileStreamUpload")


@_attrs_define
class FileStreamUpload:
    """One file and, optionally, where to put it and what to call it. The vendor accepts both
    spellings of each optional field (`upload_path` or `uploadPath`, `file_name` or `fileName`).

    """

    file: File
    """ The file's bytes (one file per request). """
    upload_path: str | Unset = UNSET
    """ A folder name on the file host. """
    uploadPath: str | Unset = UNSET
    """ The same as `upload_path`. """
    file_name: str | Unset = UNSET
    """ The name to store the file under. """
    fileName: str | Unset = UNSET
    """ The same as `file_name`. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        file = self.file.to_tuple()

        upload_path = self.upload_path

        uploadPath = self.uploadPath

        file_name = self.file_name

        fileName = self.fileName

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "file": file,
            }
        )
        if upload_path is not UNSET:
            field_dict["upload_path"] = upload_path
        if uploadPath is not UNSET:
            field_dict["uploadPath"] = uploadPath
        if file_name is not UNSET:
            field_dict["file_name"] = file_name
        if fileName is not UNSET:
            field_dict["fileName"] = fileName

        return field_dict

    def to_multipart(self) -> types.RequestFiles:
        files: types.RequestFiles = []

        files.append(("file", self.file.to_tuple()))

        if not isinstance(self.upload_path, Unset):
            files.append(("upload_path", (None, str(self.upload_path).encode(), "text/plain")))

        if not isinstance(self.uploadPath, Unset):
            files.append(("uploadPath", (None, str(self.uploadPath).encode(), "text/plain")))

        if not isinstance(self.file_name, Unset):
            files.append(("file_name", (None, str(self.file_name).encode(), "text/plain")))

        if not isinstance(self.fileName, Unset):
            files.append(("fileName", (None, str(self.fileName).encode(), "text/plain")))

        for prop_name, prop in self.additional_properties.items():
            files.append((prop_name, (None, str(prop).encode(), "text/plain")))

        return files

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        file = File(payload=BytesIO(d.pop("file")))

        upload_path = d.pop("upload_path", UNSET)

        uploadPath = d.pop("uploadPath", UNSET)

        file_name = d.pop("file_name", UNSET)

        fileName = d.pop("fileName", UNSET)

        file_stream_upload = cls(
            file=file,
            upload_path=upload_path,
            uploadPath=uploadPath,
            file_name=file_name,
            fileName=fileName,
        )

        file_stream_upload.additional_properties = d
        return file_stream_upload

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
