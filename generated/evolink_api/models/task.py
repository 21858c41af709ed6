from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.known_task_object import KnownTaskObject, check_known_task_object
from ..models.known_task_status import KnownTaskStatus, check_known_task_status
from ..models.known_task_type import KnownTaskType, check_known_task_type
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.task_error import TaskError
    from ..models.task_info import TaskInfo
    from ..models.task_usage import TaskUsage


T = TypeVar("T", bound="Task")


@_attrs_define
class Task:
    """An asynchronous task, as returned on create, on `GET /v1/tasks/{task_id}` and in callbacks.
    The vendor marks no field required; `id` and `status` are required here because a body
    without them cannot be acted on. Every object may carry fields not listed: they are kept.
    The optional objects and `results` may be null (undocumented, but a null must not make a
    finished task unreadable).

    """

    id: str
    """ The task id, e.g. `task-unified-1757156493-imcg5zqt` (never empty). """
    status: KnownTaskStatus | str
    """ `pending`, `processing`, `completed`, `failed` or `cancelled`. Open: new values may
    appear, and an unknown status counts as not finished.
     """
    created: int | Unset = UNSET
    """ Creation time, Unix seconds. """
    model: str | Unset = UNSET
    """ The model actually used. """
    object_: KnownTaskObject | str | Unset = UNSET
    """ The kind of task: `image.generation.task` here; the vendor also lists
    `video.generation.task` and `audio.generation.task`. Open: new values may appear.
     """
    progress: int | Unset = UNSET
    """ Percent done, 0 to 100. """
    type_: KnownTaskType | str | Unset = UNSET
    """ `image`, `video`, `audio` or `text`. Open: new values may appear. """
    task_info: None | TaskInfo | Unset = UNSET
    """ Scheduling details; null is accepted as "none given". """
    usage: None | TaskUsage | Unset = UNSET
    """ Billing details; null is accepted as "none given". """
    results: list[str] | None | Unset = UNSET
    """ The result image URLs, present when `completed`; null is accepted as "none yet". They
    expire after 24 hours.
     """
    error: None | TaskError | Unset = UNSET
    """ Present when the task `failed` (or was cancelled); null otherwise. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.task_error import TaskError  # noqa: PLC0415
        from ..models.task_info import TaskInfo  # noqa: PLC0415
        from ..models.task_usage import TaskUsage  # noqa: PLC0415

        id = self.id

        status: str
        if isinstance(self.status, str):
            status = self.status
        else:
            status = self.status

        created = self.created

        model = self.model

        object_: str | Unset
        if isinstance(self.object_, Unset):
            object_ = UNSET
        elif isinstance(self.object_, str):
            object_ = self.object_
        else:
            object_ = self.object_

        progress = self.progress

        type_: str | Unset
        if isinstance(self.type_, Unset):
            type_ = UNSET
        elif isinstance(self.type_, str):
            type_ = self.type_
        else:
            type_ = self.type_

        task_info: dict[str, Any] | None | Unset
        if isinstance(self.task_info, Unset):
            task_info = UNSET
        elif isinstance(self.task_info, TaskInfo):
            task_info = self.task_info.to_dict()
        else:
            task_info = self.task_info

        usage: dict[str, Any] | None | Unset
        if isinstance(self.usage, Unset):
            usage = UNSET
        elif isinstance(self.usage, TaskUsage):
            usage = self.usage.to_dict()
        else:
            usage = self.usage

        results: list[str] | None | Unset
        if isinstance(self.results, Unset):
            results = UNSET
        elif isinstance(self.results, list):
            results = self.results

        else:
            results = self.results

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, TaskError):
            error = self.error.to_dict()
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "status": status,
            }
        )
        if created is not UNSET:
            field_dict["created"] = created
        if model is not UNSET:
            field_dict["model"] = model
        if object_ is not UNSET:
            field_dict["object"] = object_
        if progress is not UNSET:
            field_dict["progress"] = progress
        if type_ is not UNSET:
            field_dict["type"] = type_
        if task_info is not UNSET:
            field_dict["task_info"] = task_info
        if usage is not UNSET:
            field_dict["usage"] = usage
        if results is not UNSET:
            field_dict["results"] = results
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_error import TaskError  # noqa: PLC0415
        from ..models.task_info import TaskInfo  # noqa: PLC0415
        from ..models.task_usage import TaskUsage  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        def _parse_status(data: object) -> KnownTaskStatus | str:
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_0 = check_known_task_status(data)

                return status_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(KnownTaskStatus | str, data)

        status = _parse_status(d.pop("status"))

        created = d.pop("created", UNSET)

        model = d.pop("model", UNSET)

        def _parse_object_(data: object) -> KnownTaskObject | str | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                object_type_0 = check_known_task_object(data)

                return object_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(KnownTaskObject | str | Unset, data)

        object_ = _parse_object_(d.pop("object", UNSET))

        progress = d.pop("progress", UNSET)

        def _parse_type_(data: object) -> KnownTaskType | str | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                type_type_0 = check_known_task_type(data)

                return type_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(KnownTaskType | str | Unset, data)

        type_ = _parse_type_(d.pop("type", UNSET))

        def _parse_task_info(data: object) -> None | TaskInfo | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                task_info_type_0 = TaskInfo.from_dict(data)

                return task_info_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskInfo | Unset, data)

        task_info = _parse_task_info(d.pop("task_info", UNSET))

        def _parse_usage(data: object) -> None | TaskUsage | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                usage_type_0 = TaskUsage.from_dict(data)

                return usage_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskUsage | Unset, data)

        usage = _parse_usage(d.pop("usage", UNSET))

        def _parse_results(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                results_type_0 = cast(list[str], data)

                return results_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        results = _parse_results(d.pop("results", UNSET))

        def _parse_error(data: object) -> None | TaskError | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = TaskError.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | TaskError | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        task = cls(
            id=id,
            status=status,
            created=created,
            model=model,
            object_=object_,
            progress=progress,
            type_=type_,
            task_info=task_info,
            usage=usage,
            results=results,
            error=error,
        )

        task.additional_properties = d
        return task

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
