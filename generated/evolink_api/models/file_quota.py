from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="FileQuota")


@_attrs_define
class FileQuota:
    """The account's file quota. Every member may be joined by others."""

    user_group: str | Unset = UNSET
    """ The account's group, e.g. `default`. """
    used_files: int | Unset = UNSET
    """ Files held now (each stored upload until it expires). """
    max_files: int | Unset = UNSET
    """ The most files the account may hold at once. """
    remain_files: int | Unset = UNSET
    """ How many more uploads may be stored now. """
    is_custom: bool | Unset = UNSET
    """ Whether the quota was set for this account. """
    quota_reason: None | str | Unset = UNSET
    """ Why the quota is what it is, when it was set by hand. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        user_group = self.user_group

        used_files = self.used_files

        max_files = self.max_files

        remain_files = self.remain_files

        is_custom = self.is_custom

        quota_reason: None | str | Unset
        if isinstance(self.quota_reason, Unset):
            quota_reason = UNSET
        else:
            quota_reason = self.quota_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if user_group is not UNSET:
            field_dict["user_group"] = user_group
        if used_files is not UNSET:
            field_dict["used_files"] = used_files
        if max_files is not UNSET:
            field_dict["max_files"] = max_files
        if remain_files is not UNSET:
            field_dict["remain_files"] = remain_files
        if is_custom is not UNSET:
            field_dict["is_custom"] = is_custom
        if quota_reason is not UNSET:
            field_dict["quota_reason"] = quota_reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        user_group = d.pop("user_group", UNSET)

        used_files = d.pop("used_files", UNSET)

        max_files = d.pop("max_files", UNSET)

        remain_files = d.pop("remain_files", UNSET)

        is_custom = d.pop("is_custom", UNSET)

        def _parse_quota_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        quota_reason = _parse_quota_reason(d.pop("quota_reason", UNSET))

        file_quota = cls(
            user_group=user_group,
            used_files=used_files,
            max_files=max_files,
            remain_files=remain_files,
            is_custom=is_custom,
            quota_reason=quota_reason,
        )

        file_quota.additional_properties = d
        return file_quota

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
