from typing import Literal

KnownTaskObject = Literal["audio.generation.task", "image.generation.task", "video.generation.task"]

KNOWN_TASK_OBJECT_VALUES: set[KnownTaskObject] = {
    "audio.generation.task",
    "image.generation.task",
    "video.generation.task",
}


def check_known_task_object(value: str) -> KnownTaskObject:
    if value in KNOWN_TASK_OBJECT_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {KNOWN_TASK_OBJECT_VALUES!r}")
