"""schemathesis over real HTTP on loopback, with every check, auth enforcement (ignored_auth) included.

respx cannot serve ignored_auth's probes (they go through schemathesis's own `requests` transport),
so this runs against the fake's loopback face.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode

from evolink_images.testing.contract.untyped_forms import untyped_form_checks
from evolink_images.testing.fake import FakeEvoLink, TaskPlan
from evolink_images.testing.server import FakeServer
from evolink_images.testing.spec import spec_path

schema = schemathesis.openapi.from_path(spec_path())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True)
schema.config.phases.update(phases=["examples", "fuzzing"])  # see test_schemathesis_fake.py
schema.config.update(request_timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with FakeServer(FakeEvoLink(plan=TaskPlan(duration=0))) as running:
        yield running


@schema.parametrize()
def test_every_operation_enforces_auth_and_answers_as_the_spec_says(
    case: schemathesis.Case[Any], server: FakeServer
) -> None:
    headers = {"Authorization": f"Bearer {server.fake.api_key}"}
    response = case.call(base_url=server.base_url, headers=headers)
    case.validate_response(response, headers=headers, excluded_checks=untyped_form_checks(case))
