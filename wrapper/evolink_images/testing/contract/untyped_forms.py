"""The one check schemathesis cannot make on a multipart form: that a wrongly typed field is refused.

A ``multipart/form-data`` part is text: the ``null``, ``3`` or ``true`` that schemathesis puts in
a string field of the file host's stream upload in negative mode arrives as the strings ``"null"``,
``"3"`` and ``"true"``, which the schema allows. So ``negative_data_rejection`` is left out for that
operation (every other check still runs); what the fake refuses in a form (no file, two files, a
body that is not multipart) is tested by name in ``test_fake.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from schemathesis.checks import negative_data_rejection

from ..spec import load_spec

__all__ = ["untyped_form_checks"]


def untyped_form_checks(case: schemathesis.Case[Any]) -> list[Callable[..., Any]]:
    """The checks that cannot apply to ``case``: ``negative_data_rejection`` for a multipart body."""
    operation = load_spec()["paths"][case.operation.path][case.operation.method.lower()]
    media = operation.get("requestBody", {}).get("content", {})
    return [negative_data_rejection] if "multipart/form-data" in media else []
