"""The project's OpenAPI document and JSON Schema validators built from its own schemas.

Everything that checks a body against the contract (the tests, the fake EvoLink) goes through
here, so there is one reading of the spec and one JSON Schema engine configuration.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_URI",
    "iter_refs",
    "load_spec",
    "pointer_validator",
    "resolve_pointer",
    "schema_validator",
    "spec_path",
]

SPEC_URI = "urn:evolink-images:openapi"
"""The base URI the spec is registered under, so its ``#/components/...`` references resolve."""

_WHEEL_SPEC = Path(__file__).with_name("openapi.yaml")
_CHECKOUT_SPEC = Path(__file__).resolve().parents[3] / "openapi" / "evolink-images.yaml"


def spec_path() -> Path:
    """Return the path of the OpenAPI document.

    An installed wheel carries a copy beside this module; a source checkout (editable install)
    reads ``openapi/evolink-images.yaml`` itself, so an edited spec is seen at once.
    """
    if _WHEEL_SPEC.is_file():
        return _WHEEL_SPEC
    if _CHECKOUT_SPEC.is_file():
        return _CHECKOUT_SPEC
    raise FileNotFoundError(f"the OpenAPI document is neither at {_WHEEL_SPEC} nor at {_CHECKOUT_SPEC}")


@functools.cache
def load_spec() -> Mapping[str, Any]:
    """Return the parsed OpenAPI document (read once per process)."""
    with spec_path().open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.safe_load(f)
    return document


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resource = DRAFT202012.create_resource(dict(load_spec()))
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(SPEC_URI, resource)
    return registry


@functools.cache
def pointer_validator(pointer: str) -> jsonschema.protocols.Validator:
    """Return a Draft 2020-12 validator for the schema at a local pointer (``#/components/...``).

    Raises:
        KeyError: the pointer resolves to nothing.
    """
    resolve_pointer(load_spec(), pointer)
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}{pointer}"}, registry=_registry()
    )
    return validator


def schema_validator(component: str) -> jsonschema.protocols.Validator:
    """Return a Draft 2020-12 validator for ``#/components/schemas/<component>``.

    Raises:
        KeyError: the spec has no such component.
    """
    return pointer_validator(f"#/components/schemas/{component}")


def resolve_pointer(document: Mapping[str, Any], ref: str) -> Any:
    """Follow a local reference (``#/a/b``) in ``document``.

    Raises:
        KeyError: the reference is not local or points at nothing.
    """
    if not ref.startswith("#/"):
        raise KeyError(f"not a local reference: {ref!r}")
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(f"{ref!r} does not resolve: no {part!r}")
    return node


def iter_refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Yield ``(location, target)`` for every ``$ref`` and discriminator mapping target below ``node``."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{where}/{key}"
            if key == "$ref" and isinstance(value, str):
                yield here, value
            elif key == "discriminator" and isinstance(value, Mapping):
                for name, target in value.get("mapping", {}).items():
                    yield f"{here}/mapping/{name}", target
            else:
                yield from iter_refs(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_refs(item, f"{where}/{index}")
