"""Contains all the data models used in inputs/outputs"""

from .error_detail import ErrorDetail
from .error_response import ErrorResponse
from .known_billing_rule import KnownBillingRule
from .known_task_object import KnownTaskObject
from .known_task_status import KnownTaskStatus
from .known_task_type import KnownTaskType
from .qwen_image_edit_request import QwenImageEditRequest
from .task import Task
from .task_error import TaskError
from .task_info import TaskInfo
from .task_usage import TaskUsage
from .wan_image_to_image_request import WanImageToImageRequest

__all__ = (
    "ErrorDetail",
    "ErrorResponse",
    "KnownBillingRule",
    "KnownTaskObject",
    "KnownTaskStatus",
    "KnownTaskType",
    "QwenImageEditRequest",
    "Task",
    "TaskError",
    "TaskInfo",
    "TaskUsage",
    "WanImageToImageRequest",
)
