from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.file_quota import FileQuota


T = TypeVar("T", bound="FileQuotaResponse")


@_attrs_define
class FileQuotaResponse:
    """The envelope around the quota (`success: false` inside an HTTP 200 is a refusal)."""

    success: bool
    """ Whether the quota could be read. """
    code: int | str | Unset = UNSET
    """ The envelope's status code: 200 on success; codes seen on refusals (EvoLink's client docs):
    `40001` file too large, `40002` type not allowed, `40003` quota exceeded, `40004` URL
    download failed, `50001` storage error. Open: new codes may appear (an integer, or a string).
     """
    msg: str | Unset = UNSET
    """ A human-readable explanation. """
    data: FileQuota | None | Unset = UNSET
    """ The quota when `success` is true. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.file_quota import FileQuota  # noqa: PLC0415

        success = self.success

        code: int | str | Unset
        if isinstance(self.code, Unset):
            code = UNSET
        else:
            code = self.code

        msg = self.msg

        data: dict[str, Any] | None | Unset
        if isinstance(self.data, Unset):
            data = UNSET
        elif isinstance(self.data, FileQuota):
            data = self.data.to_dict()
        else:
            data = self.data

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "success": success,
            }
        )
        if code is not UNSET:
            field_dict["code"] = code
        if msg is not UNSET:
            field_dict["msg"] = msg
        if data is not UNSET:
            field_dict["data"] = data

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.file_quota import FileQuota  # noqa: PLC0415

        d = dict(src_dict)
        success = d.pop("success")

        def _parse_code(data: object) -> int | str | Unset:
            if isinstance(data, Unset):
                return data
            return cast(int | str | Unset, data)

        code = _parse_code(d.pop("code", UNSET))

        msg = d.pop("msg", UNSET)

        def _parse_data(data: object) -> FileQuota | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_0 = FileQuota.from_dict(data)

                return data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FileQuota | None | Unset, data)

        data = _parse_data(d.pop("data", UNSET))

        file_quota_response = cls(
            success=success,
            code=code,
            msg=msg,
            data=data,
        )

        file_quota_response.additional_properties = d
        return file_quota_response

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
