from typing import Literal

KnownTaskType = Literal["audio", "image", "text", "video"]

KNOWN_TASK_TYPE_VALUES: set[KnownTaskType] = {
    "audio",
    "image",
    "text",
    "video",
}


def check_known_task_type(value: str) -> KnownTaskType:
    if value in KNOWN_TASK_TYPE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {KNOWN_TASK_TYPE_VALUES!r}")
