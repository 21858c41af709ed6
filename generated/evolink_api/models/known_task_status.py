from typing import Literal

KnownTaskStatus = Literal["cancelled", "completed", "failed", "pending", "processing"]

KNOWN_TASK_STATUS_VALUES: set[KnownTaskStatus] = {
    "cancelled",
    "completed",
    "failed",
    "pending",
    "processing",
}


def check_known_task_status(value: str) -> KnownTaskStatus:
    if value in KNOWN_TASK_STATUS_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {KNOWN_TASK_STATUS_VALUES!r}")
