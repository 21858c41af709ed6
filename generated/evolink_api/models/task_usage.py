from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.known_billing_rule import KnownBillingRule, check_known_billing_rule
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskUsage")


@_attrs_define
class TaskUsage:
    """Billing of a task."""

    billing_rule: KnownBillingRule | str | Unset = UNSET
    """ `per_call`, `per_token` or `per_second`. Open: new values may appear. """
    credits_reserved: float | Unset = UNSET
    """ Credits reserved on create (e.g. 1.2 for wan, 1 for qwen); failed tasks are not charged. """
    credits_used: float | Unset = UNSET
    """ Credits actually charged, when known. """
    user_group: str | Unset = UNSET
    """ The account's pricing group, e.g. `default`. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        billing_rule: str | Unset
        if isinstance(self.billing_rule, Unset):
            billing_rule = UNSET
        elif isinstance(self.billing_rule, str):
            billing_rule = self.billing_rule
        else:
            billing_rule = self.billing_rule

        credits_reserved = self.credits_reserved

        credits_used = self.credits_used

        user_group = self.user_group

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if billing_rule is not UNSET:
            field_dict["billing_rule"] = billing_rule
        if credits_reserved is not UNSET:
            field_dict["credits_reserved"] = credits_reserved
        if credits_used is not UNSET:
            field_dict["credits_used"] = credits_used
        if user_group is not UNSET:
            field_dict["user_group"] = user_group

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_billing_rule(data: object) -> KnownBillingRule | str | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                billing_rule_type_0 = check_known_billing_rule(data)

                return billing_rule_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(KnownBillingRule | str | Unset, data)

        billing_rule = _parse_billing_rule(d.pop("billing_rule", UNSET))

        credits_reserved = d.pop("credits_reserved", UNSET)

        credits_used = d.pop("credits_used", UNSET)

        user_group = d.pop("user_group", UNSET)

        task_usage = cls(
            billing_rule=billing_rule,
            credits_reserved=credits_reserved,
            credits_used=credits_used,
            user_group=user_group,
        )

        task_usage.additional_properties = d
        return task_usage

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
