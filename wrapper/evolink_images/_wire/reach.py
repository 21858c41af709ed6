"""Which addresses a connection may reach: public ones only, when the request says so.

A host name is checked before a fetch (``_fetch.py``), but a public-looking name may resolve to an
address inside the network (an internal DNS name, a rebinding answer). So the rule travels with the
request to where the name is really resolved: the guard (``guard.py``) puts it in force while the
request is sent, and the socket layer (``sockets.py``) resolves the name itself, refuses when any of
its addresses is not public, and connects to the address it checked (TLS still verifies the name).
"""

from __future__ import annotations

import contextvars

import httpx

from .._addresses import host_problem

__all__ = ["InternalAddress", "enter", "leave", "problem", "public_only"]

_PUBLIC_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("evolink_wire_public_only", default=False)


class InternalAddress(httpx.ConnectError):
    """A host name resolved to an address that is not public; no connection was made."""


def public_only() -> bool:
    """True while the request being sent may reach public addresses only."""
    return _PUBLIC_ONLY.get()


def enter(value: bool) -> contextvars.Token[bool]:
    """Put the rule in force until ``leave``."""
    return _PUBLIC_ONLY.set(value)


def leave(token: contextvars.Token[bool]) -> None:
    """Restore the rule in force before ``enter``."""
    _PUBLIC_ONLY.reset(token)


def problem(host: str, addresses: list[str]) -> InternalAddress | None:
    """The error for ``host`` if any of the addresses it resolved to is not public, else None."""
    if not addresses:
        return InternalAddress(f"{host[:80]!r} resolved to no address")
    for address in addresses:
        why = host_problem(address)
        if why is not None:
            return InternalAddress(f"{host[:80]!r} resolves to {why.removeprefix('points at ')}")
    return None
