"""GETs to hosts other than the API (result images, preflight inputs): which hosts, and which redirects.

The API client never follows redirects (the key stays home). Fetches of result images must, since
result URLs may point at a CDN that redirects, but each hop is a new chance to be sent somewhere
else: to 169.254.169.254 (a cloud's metadata service), to a private network, to ``file:``. So the
redirects are followed here, not by httpx: at most ``MAX_REDIRECTS`` of them, each target checked
by the same rule as the first URL before anything is sent to it. A refused target fails at once;
nothing is retried (the retry transport sees only the single requests, never the refusal). A name
is checked again where it is resolved: the wire's socket layer refuses to connect when the name's
addresses are not all public (a DNS answer pointing inside the network).

The decisions are one generator (``fetch_flow``) that yields the URLs to GET and receives the
responses; ``fetch`` and ``fetch_async`` are the two short drivers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass

import httpx

from ._addresses import host_problem, normalise_host
from ._wire.guard import PUBLIC_ONLY

__all__ = ["MAX_REDIRECTS", "NO_AUTH", "FetchRefused", "HostRule", "fetch", "fetch_async", "fetch_flow", "parse_url"]

MAX_REDIRECTS = 5
"""The most redirects one fetch follows (browsers allow 20; a CDN needs one or two)."""

NO_AUTH = httpx.Auth()
"""An auth that adds nothing. ``auth=None`` would let httpx fall back to a client's default auth or
to the credentials of the URL; this sends the request exactly as built."""


class FetchRefused(Exception):
    """A URL (first or redirect target) that may not be fetched: its text says why, without the URL's secrets."""


def parse_url(text: object) -> httpx.URL:
    """Parse a URL as httpx will send it.

    Raises:
        FetchRefused: it is not a string, or httpx cannot parse it (``http://[::1``, ``https://xn--/x``).
    """
    if not isinstance(text, str):
        raise FetchRefused(f"is not a URL but {type(text).__name__}")
    try:
        return _checked_host(httpx.URL(text))
    except (httpx.InvalidURL, UnicodeError, ValueError) as error:  # the IDNA codec raises UnicodeError
        raise FetchRefused(f"is not a URL that can be fetched ({type(error).__name__})") from None


def _checked_host(url: httpx.URL) -> httpx.URL:
    """Return ``url`` once its host is one a resolver could be asked about, whatever host rule applies.

    Raises:
        ValueError: decoding an IDNA host ("xn--") fails; encoding it as the resolver will (a label over
            63 characters, an empty one: "a..b") fails; it holds a character no host may hold ("a b").
    """
    if url.host:
        url.host.encode("idna")  # UnicodeError is a ValueError
        normalise_host(url.host)
    return url


@dataclass(frozen=True)
class HostRule:
    """Where a fetch may go: http(s) only, and public hosts only unless ``allow_internal``."""

    allow_internal: bool = False

    def problem(self, url: httpx.URL) -> str | None:
        """Return why ``url`` may not be fetched, or None."""
        if url.scheme not in {"http", "https"}:
            return f"is a {url.scheme or 'relative'}: URL, not http(s)" if url.scheme else "is not an absolute URL"
        if self.allow_internal:
            return None
        problem = host_problem(url.host)
        return None if problem is None else f"{problem}, not a public host"

    @property
    def extensions(self) -> dict[str, object]:
        """What the wire must enforce too: a public name must also resolve to public addresses only."""
        return {} if self.allow_internal else {PUBLIC_ONLY: True}


def fetch_flow(url: httpx.URL, rule: HostRule) -> Generator[httpx.URL, httpx.Response, httpx.Response]:
    """Yield each URL to GET, receive its response; return the first response that is not a redirect.

    Raises:
        FetchRefused: a URL breaks ``rule``, a redirect has no usable ``Location``, or there are too many.
    """
    for hop in range(MAX_REDIRECTS + 1):
        problem = rule.problem(url)
        if problem is not None:
            raise FetchRefused(problem if hop == 0 else f"was redirected to a URL that {problem}")
        response = yield url
        if not response.has_redirect_location:
            return response
        try:
            url = _checked_host(url.join(response.headers["location"]))
        except (httpx.InvalidURL, UnicodeError, ValueError):
            raise FetchRefused("was redirected to a Location that is not a URL") from None
    raise FetchRefused(f"was redirected more than {MAX_REDIRECTS} times")


@contextlib.contextmanager
def fetch(client: httpx.Client, url: httpx.URL, rule: HostRule) -> Iterator[httpx.Response]:
    """GET ``url`` with ``client`` (which must not follow redirects itself), checking every hop; stream the answer."""
    flow = fetch_flow(url, rule)
    target = next(flow)
    while True:
        request = client.build_request("GET", target, extensions=rule.extensions)
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            target = flow.send(response)
        except StopIteration:
            break  # the final response: the caller reads it
        except BaseException:
            response.close()
            raise
        response.close()  # a redirect's body is not wanted
    try:
        yield response
    finally:
        response.close()


@contextlib.asynccontextmanager
async def fetch_async(client: httpx.AsyncClient, url: httpx.URL, rule: HostRule) -> AsyncIterator[httpx.Response]:
    """The async driver of ``fetch_flow``: see ``fetch``."""
    flow = fetch_flow(url, rule)
    target = next(flow)
    while True:
        request = client.build_request("GET", target, extensions=rule.extensions)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            target = flow.send(response)
        except StopIteration:
            break  # the final response: the caller reads it
        except BaseException:
            await response.aclose()
            raise
        await response.aclose()  # a redirect's body is not wanted
    try:
        yield response
    finally:
        await response.aclose()
