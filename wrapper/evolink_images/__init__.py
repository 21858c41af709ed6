"""evolink-images: a typed client for EvoLink's asynchronous image-edit API.

    from evolink_images import Client, WanImageToImage

    with Client() as client:                      # the key comes from EVOLINK_API_KEY
        task = client.run(WanImageToImage("Make it night", ["https://example.com/a.png"], n=2))
        paths = client.download(task, "out/")

Requests are validated against their model's rules before anything is sent; ``wait`` polls with a
deadline; errors are typed (see ``EvoLinkError``); retries never create a second paid task.
"""

from typing import TYPE_CHECKING, Any

from ._batch import BatchProgress, BatchResult, UncertainSubmitError
from ._callbacks import parse_callback
from ._client import Client
from ._config import DEFAULT_BASE_URL, ENV_API_KEY, ConfigurationError
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DownloadError,
    EvoLinkError,
    FileHostError,
    InsufficientQuotaError,
    InternalServerError,
    MalformedTaskError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    TaskCancelledError,
    TaskError,
    TaskFailedError,
    UploadError,
    Violation,
    WaitTimeoutError,
)
from ._file_host import FileQuota, UploadedFile
from ._journal import JournalDamagedError, JournalError, JournalLockedError, JournalWarning
from ._polling import PollSchedule
from ._requests import ImageEditRequest, QwenImageEdit, WanImageToImage
from ._rules import QWEN_RULES, RULES, WAN_RULES, ModelRules, validate
from ._task import Task, TaskErrorInfo, TaskStatus, TaskUsage

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_API_KEY",
    "QWEN_RULES",
    "RULES",
    "WAN_RULES",
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchProgress",
    "BatchResult",
    "Client",
    "ConfigurationError",
    "DownloadError",
    "EvoLinkError",
    "FileHostError",
    "FileQuota",
    "ImageEditRequest",
    "InsufficientQuotaError",
    "InternalServerError",
    "JournalDamagedError",
    "JournalError",
    "JournalLockedError",
    "JournalWarning",
    "MalformedTaskError",
    "ModelRules",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PollSchedule",
    "QwenImageEdit",
    "RateLimitError",
    "RequestValidationError",
    "Task",
    "TaskCancelledError",
    "TaskError",
    "TaskErrorInfo",
    "TaskFailedError",
    "TaskStatus",
    "TaskUsage",
    "UncertainSubmitError",
    "UploadError",
    "UploadedFile",
    "Violation",
    "WaitTimeoutError",
    "WanImageToImage",
    "__version__",
    "parse_callback",
    "validate",
]

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._async_client import AsyncClient


def __getattr__(name: str) -> Any:
    # AsyncClient (and asyncio with it) is imported on first use: most callers never touch it.
    if name == "AsyncClient":
        from ._async_client import AsyncClient

        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
