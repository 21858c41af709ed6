"""The wire policy: what every HTTP exchange of the client passes through, one module per concern.

    credentials.py which requests may carry the key (the API's origin only), and only while sent
    reach.py       which addresses a connection may reach (public only, for result and input hosts)
    deadline.py    a call's total wall-clock budget, as a deadline every step consumes
    sockets.py     the network backend that enforces that deadline on each connect, read and write
                   (imported when a client builds its own transport: it needs httpcore)
    decoding.py    Content-Encoding decoded in bounded steps (no compression bomb), bodies under a cap
    redaction.py   the API key cut out of whatever a server sends back
    guard.py       the transports that apply all of the above to each request and its response

Retries (``_retry.py``) sit above the guard: each attempt is guarded, and the back-off between
attempts draws on the same deadline.
"""

from .credentials import Credentials, Secret
from .deadline import DeadlineExceeded, deadline_passed
from .decoding import BodyTooLarge, UnsupportedEncoding
from .guard import AsyncGuardedTransport, GuardedTransport, WirePolicy
from .redaction import Redactor, redact_logs

__all__ = [
    "AsyncGuardedTransport",
    "BodyTooLarge",
    "Credentials",
    "DeadlineExceeded",
    "GuardedTransport",
    "Redactor",
    "Secret",
    "UnsupportedEncoding",
    "WirePolicy",
    "deadline_passed",
    "redact_logs",
]

# sockets.py (install_deadline_backend) needs httpcore, which httpx itself loads only when a
# transport is built: it is imported there, not here, so that importing the package stays cheap.
