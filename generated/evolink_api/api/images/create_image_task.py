from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.qwen_image_edit_request import QwenImageEditRequest
from ...models.task import Task
from ...models.wan_image_to_image_request import WanImageToImageRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: QwenImageEditRequest | WanImageToImageRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/images/generations",
    }

    if isinstance(body, WanImageToImageRequest):
        _kwargs["json"] = body.to_dict()
    else:
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorResponse | Task | None:
    if response.status_code == 200:
        response_200 = Task.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 402:
        response_402 = ErrorResponse.from_dict(response.json())

        return response_402

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 502:
        response_502 = ErrorResponse.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | Task]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: QwenImageEditRequest | WanImageToImageRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | Task]:
    """Submit an image-edit task

     Creates an asynchronous task and answers at once with HTTP 200 and the task object
    (status `pending`). The `model` field selects the request schema.

    A POST that times out may still have created (and billed) a task. Clients may send an
    `Idempotency-Key` header, reused across retries of one logical submit; the gateway's
    handling of it is undocumented, so it is a best effort, never a guarantee.

    Args:
        idempotency_key (str | Unset):
        body (QwenImageEditRequest | WanImageToImageRequest): The request body of `POST
            /v1/images/generations`, one schema per model.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Task]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: QwenImageEditRequest | WanImageToImageRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | Task | None:
    """Submit an image-edit task

     Creates an asynchronous task and answers at once with HTTP 200 and the task object
    (status `pending`). The `model` field selects the request schema.

    A POST that times out may still have created (and billed) a task. Clients may send an
    `Idempotency-Key` header, reused across retries of one logical submit; the gateway's
    handling of it is undocumented, so it is a best effort, never a guarantee.

    Args:
        idempotency_key (str | Unset):
        body (QwenImageEditRequest | WanImageToImageRequest): The request body of `POST
            /v1/images/generations`, one schema per model.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Task
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: QwenImageEditRequest | WanImageToImageRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ErrorResponse | Task]:
    """Submit an image-edit task

     Creates an asynchronous task and answers at once with HTTP 200 and the task object
    (status `pending`). The `model` field selects the request schema.

    A POST that times out may still have created (and billed) a task. Clients may send an
    `Idempotency-Key` header, reused across retries of one logical submit; the gateway's
    handling of it is undocumented, so it is a best effort, never a guarantee.

    Args:
        idempotency_key (str | Unset):
        body (QwenImageEditRequest | WanImageToImageRequest): The request body of `POST
            /v1/images/generations`, one schema per model.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | Task]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: QwenImageEditRequest | WanImageToImageRequest,
    idempotency_key: str | Unset = UNSET,
) -> ErrorResponse | Task | None:
    """Submit an image-edit task

     Creates an asynchronous task and answers at once with HTTP 200 and the task object
    (status `pending`). The `model` field selects the request schema.

    A POST that times out may still have created (and billed) a task. Clients may send an
    `Idempotency-Key` header, reused across retries of one logical submit; the gateway's
    handling of it is undocumented, so it is a best effort, never a guarantee.

    Args:
        idempotency_key (str | Unset):
        body (QwenImageEditRequest | WanImageToImageRequest): The request body of `POST
            /v1/images/generations`, one schema per model.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | Task
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
