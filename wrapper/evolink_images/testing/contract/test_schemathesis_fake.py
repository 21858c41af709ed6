"""schemathesis keeps the fake (and the spec) honest, in positive and negative modes, through respx."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import ignored_auth

from evolink_images.testing.contract.untyped_forms import untyped_form_checks
from evolink_images.testing.fake import FILES_API_HOST, FakeEvoLink
from evolink_images.testing.spec import load_spec, spec_path

schema = schemathesis.openapi.from_path(spec_path())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
# The coverage phase is not bounded by max_examples and spends ~35 s per operation on the URL
# patterns' negative cases; the limits it would probe are pinned in tests/test_spec.py and by the
# Hypothesis properties. The examples and fuzzing phases run, bounded by the Hypothesis profile.
schema.config.phases.update(phases=["examples", "fuzzing"])

FAKE = FakeEvoLink()
# One client for the module: building one per example costs ~20 ms (toolchain-notes.md).
HTTP = httpx.Client(base_url=FAKE.base_url, transport=httpx.MockTransport(FAKE.handler))
AUTH = {"Authorization": f"Bearer {FAKE.api_key}"}


def server_of(case: schemathesis.Case[Any]) -> str:
    """The operation's own server: the file host's operations live on their own origin (the spec says so)."""
    servers = load_spec()["paths"][case.operation.path].get("servers", [])
    return FAKE.files_api_url if servers and servers[0]["url"] == FILES_API_HOST else FAKE.base_url


@schema.parametrize()
def test_every_operation_answers_as_the_spec_says(case: schemathesis.Case[Any]) -> None:
    kwargs = case.as_transport_kwargs(base_url=server_of(case), headers=AUTH)
    if "data" in kwargs:  # shaped for requests; httpx calls it content
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):  # requests sends str() of a non-text part (negative mode: a number); httpx will not
        kwargs["files"] = [
            (name, (part[0], part[1] if isinstance(part[1], str | bytes) else str(part[1]), *part[2:]))
            for name, part in kwargs["files"]
        ]
    for unused in ("verify", "allow_redirects", "cookies"):  # the spec has no cookies
        kwargs.pop(unused, None)
    response = HTTP.request(**kwargs)
    # ignored_auth re-sends probes through its own `requests` transport, which respx does not see:
    # auth is checked against the loopback server instead (test_schemathesis_server.py).
    case.validate_response(response, excluded_checks=[ignored_auth, *untyped_form_checks(case)])
