from typing import Literal

KnownBillingRule = Literal["per_call", "per_second", "per_token"]

KNOWN_BILLING_RULE_VALUES: set[KnownBillingRule] = {
    "per_call",
    "per_second",
    "per_token",
}


def check_known_billing_rule(value: str) -> KnownBillingRule:
    if value in KNOWN_BILLING_RULE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {KNOWN_BILLING_RULE_VALUES!r}")
