"""Contains all the data models used in inputs/outputs"""

from .error_detail import ErrorDetail
from .error_response import ErrorResponse
from .file_base_64_upload import FileBase64Upload
from .file_data import FileData
from .file_quota import FileQuota
from .file_quota_response import FileQuotaResponse
from .file_stream_upload import FileStreamUpload
from .file_upload_response import FileUploadResponse
from .file_url_upload import FileUrlUpload
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
    "FileBase64Upload",
    "FileData",
    "FileQuota",
    "FileQuotaResponse",
    "FileStreamUpload",
    "FileUploadResponse",
    "FileUrlUpload",
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
