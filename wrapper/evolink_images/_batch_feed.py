"""The batch's input: requests pulled one at a time, each checked, serialised and named by its content.

An item's identity is the digest of its canonical request (model, fields and ``extra_body``, as the
JSON body that would be sent, keys sorted) plus its occurrence number among identical requests: the
third copy of one request is ``<digest>#3`` wherever it sits in the input. So editing, reordering or
appending lines never makes a journaled item look new. A local image stands in that body as
``local:sha256:<digest of its bytes>``: the same picture is the same item, wherever the file lies.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ._disk_index import DiskIndex
from ._errors import EvoLinkError, RequestValidationError, Violation
from ._journal import JournalError
from ._local_images import LocalImage
from ._requests import ImageEditRequest, to_api_body
from ._rules import check_with_images

__all__ = ["Feed", "Item", "canonical_body", "content_digest", "item_identity"]


@dataclass(frozen=True)
class Item:
    """One request of the batch, ready to send (or the reason it cannot be: then nothing is sent)."""

    index: int
    request: ImageEditRequest
    identity: str
    error: EvoLinkError | None = None


def canonical_body(request: ImageEditRequest, images: Mapping[int, LocalImage] | None = None) -> str:
    """The JSON body ``request`` is sent as, in one canonical spelling (sorted keys, no spaces).

    ``images``: its local images as checked (by index); each stands as ``local:sha256:<hex>``. Without
    them, they are read here.
    """
    if images is None:
        images = check_with_images(request)[1]
    urls = [
        f"local:sha256:{images[index].sha256}" if index in images else str(url)
        for index, url in enumerate(request.image_urls)
    ]
    body = to_api_body(request, urls).to_dict()
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_digest(canonical: str) -> str:
    """A digest of a canonical request (128 bits, hex)."""
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def item_identity(request: ImageEditRequest, occurrence: int) -> str:
    """The journal's name for the ``occurrence``-th (from 1) copy of ``request`` in an input."""
    return f"{content_digest(canonical_body(request))}#{occurrence}"


def _prepare(index: int, request: ImageEditRequest) -> tuple[str | None, EvoLinkError | None]:
    """Validate and serialise one request: its canonical body, or the error that is its result."""
    try:
        violations, images = check_with_images(request)
        if violations:
            return None, RequestValidationError(violations)
        return canonical_body(request, images), None
    except Exception as error:  # an extra_body that is not JSON, a request that is not a request
        where = "extra_body" if hasattr(request, "extra_body") else f"requests[{index}]"
        problem = f"cannot be sent as JSON ({type(error).__name__}: {error})"
        return None, RequestValidationError([Violation(where, problem, "JSON values only (str, number, list, dict)")])


class Feed:
    """Hands out the batch's items in input order, to any number of workers, reading lazily.

    A ``Sequence`` is checked whole before the first item is handed out (so every problem is known
    before anything is paid for); any other iterable is read one item at a time, as workers free
    up, so a file of a million lines is never held in memory.

    Args:
        requests: the requests.
        named: compute identities (only a journal needs them; they cost a counter per distinct request,
            kept on disk).
    """

    def __init__(self, requests: Iterable[ImageEditRequest], *, named: bool) -> None:
        self._lock = threading.Lock()
        self._counts: DiskIndex | None = DiskIndex() if named else None
        self.read = 0
        self.exhausted = False
        self.source_error: BaseException | None = None
        self._source: Iterator[ImageEditRequest | Item]
        if isinstance(requests, Sequence):
            try:
                self._source = iter([self._item(index, request) for index, request in enumerate(requests)])
            except OSError as error:  # the counts' index on disk failed, before anything was sent
                raise JournalError(f"the batch cannot start: {error}; nothing was sent") from None
        else:
            self._source = iter(requests)

    def _item(self, index: int, request: ImageEditRequest) -> Item:
        canonical, error = _prepare(index, request)
        if canonical is None or self._counts is None:
            return Item(index, request, "", error)
        digest = content_digest(canonical)
        occurrence = self._counts.increment(digest)
        return Item(index, request, f"{digest}#{occurrence}", error)

    def next(self) -> Item | None:
        """The next item, or None once the input is exhausted (or failed: see ``source_error``)."""
        with self._lock:
            if self.exhausted:
                return None
            try:
                entry = next(self._source)
            except StopIteration:
                self.exhausted = True
                return None
            except Exception as error:  # the caller's iterable failed: stop handing out items
                self.exhausted = True
                self.source_error = error
                return None
            index = self.read
            self.read += 1
            try:
                return entry if isinstance(entry, Item) else self._item(index, entry)
            except OSError as error:  # the counts' index on disk failed: stop handing out items
                self.exhausted = True
                self.source_error = JournalError(f"the batch stopped: {error}; nothing more was sent")
                return None
