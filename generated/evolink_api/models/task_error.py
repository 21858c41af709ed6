from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskError")


@_attrs_define
class TaskError:
    """Why a task failed or was cancelled."""

    code: str | Unset = UNSET
    """ Caused by the request (retrying the same request fails again):
    `content_policy_violation`, `invalid_parameters`, `image_processing_error`,
    `image_dimension_mismatch`, `request_cancelled`. Caused by the service (a later retry
    may succeed): `generation_failed_no_content`, `service_error`, `generation_timeout`,
    `resource_exhausted`, `quota_exceeded`, `service_unavailable`, `resource_not_found`,
    `unknown_error`.
     """
    message: str | Unset = UNSET
    """ A human-readable explanation. """
    type_: str | Unset = UNSET
    """ The error family, `task_error`. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        message = self.message

        type_ = self.type_

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if code is not UNSET:
            field_dict["code"] = code
        if message is not UNSET:
            field_dict["message"] = message
        if type_ is not UNSET:
            field_dict["type"] = type_

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code", UNSET)

        message = d.pop("message", UNSET)

        type_ = d.pop("type", UNSET)

        task_error = cls(
            code=code,
            message=message,
            type_=type_,
        )

        task_error.additional_properties = d
        return task_error

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
