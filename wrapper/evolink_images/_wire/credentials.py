"""Which requests may carry the API key: those to EvoLink's two origins, and only while they are sent.

The key lives in a ``Secret`` (its repr is ``<redacted>``). ``Credentials`` put it in the
``Authorization`` header of a request to the API's origin (scheme, host and port of ``base_url``) or
the file host's (``files_base_url``, where local images are uploaded), and to no other, just before
the request goes out, and take it away again when the exchange fails: the request object then
lives on in the exception, and the key must not live on with it.
It is applied at the wire, below httpx's own auth, so no caller's ``http_client`` auth, redirect or
other host ever sees it.
"""

from __future__ import annotations

import httpx

__all__ = ["Credentials", "Secret"]


class Secret:
    """Holds the API key so that no repr, str or vars() of anything that holds it can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself: for the Authorization header and for redaction, nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class Credentials:
    """The bearer key and the origins that may receive it: the API's and the file host's."""

    __slots__ = ("_header", "_origins")

    def __init__(self, key: Secret, base_url: httpx.URL, files_base_url: httpx.URL | None = None) -> None:
        self._header = Secret(f"Bearer {key.reveal()}")
        hosts = [base_url] if files_base_url is None else [base_url, files_base_url]
        self._origins = frozenset((url.scheme, url.host, url.port) for url in hosts)

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    def attach(self, request: httpx.Request) -> bool:
        """Add the key to ``request`` if it goes to one of EvoLink's origins; return whether it did."""
        url = request.url
        if (url.scheme, url.host, url.port) not in self._origins:
            return False
        request.headers["Authorization"] = self._header.reveal()
        return True

    @staticmethod
    def detach(request: httpx.Request) -> None:
        """Take the key off ``request`` once it has been sent."""
        if "authorization" in request.headers:
            del request.headers["authorization"]
