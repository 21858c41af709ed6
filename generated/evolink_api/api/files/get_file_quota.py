from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.file_quota_response import FileQuotaResponse
from ...models.file_upload_response import FileUploadResponse
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/files/quota",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | FileUploadResponse | FileQuotaResponse | None:
    if response.status_code == 200:
        response_200 = FileQuotaResponse.from_dict(response.json())

        return response_200

    if response.status_code == 401:

        def _parse_response_401(data: object) -> ErrorResponse | FileUploadResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_file_error_body_type_0 = FileUploadResponse.from_dict(data)

                return componentsschemas_file_error_body_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_file_error_body_type_1 = ErrorResponse.from_dict(data)

            return componentsschemas_file_error_body_type_1

        response_401 = _parse_response_401(response.json())

        return response_401

    if response.status_code == 429:

        def _parse_response_429(data: object) -> ErrorResponse | FileUploadResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_file_error_body_type_0 = FileUploadResponse.from_dict(data)

                return componentsschemas_file_error_body_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_file_error_body_type_1 = ErrorResponse.from_dict(data)

            return componentsschemas_file_error_body_type_1

        response_429 = _parse_response_429(response.json())

        return response_429

    if response.status_code == 500:

        def _parse_response_500(data: object) -> ErrorResponse | FileUploadResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_file_error_body_type_0 = FileUploadResponse.from_dict(data)

                return componentsschemas_file_error_body_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            componentsschemas_file_error_body_type_1 = ErrorResponse.from_dict(data)

            return componentsschemas_file_error_body_type_1

        response_500 = _parse_response_500(response.json())

        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | FileUploadResponse | FileQuotaResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | FileUploadResponse | FileQuotaResponse]:
    """Read the account's file quota (free)

     How many files the account may keep at once, and how many it holds now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | FileUploadResponse | FileQuotaResponse]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | FileUploadResponse | FileQuotaResponse | None:
    """Read the account's file quota (free)

     How many files the account may keep at once, and how many it holds now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | FileUploadResponse | FileQuotaResponse
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | FileUploadResponse | FileQuotaResponse]:
    """Read the account's file quota (free)

     How many files the account may keep at once, and how many it holds now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | FileUploadResponse | FileQuotaResponse]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | FileUploadResponse | FileQuotaResponse | None:
    """Read the account's file quota (free)

     How many files the account may keep at once, and how many it holds now.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | FileUploadResponse | FileQuotaResponse
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
