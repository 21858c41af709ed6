"""Test helpers for code that uses evolink-images: a fake EvoLink, its pytest fixture, the spec's schemas.

- ``fake``: ``FakeEvoLink``, the API as a respx/MockTransport handler (``faults``, ``wire``, ``render``).
- ``server``: ``FakeServer``, the same fake over HTTP on loopback.
- ``plugin``: the ``fake_evolink`` pytest fixture (registered through an entry point).
- ``spec``, ``payloads``: the spec's JSON schemas as validators, and valid bodies to start from.

Needs the ``testing`` extra: ``pip install evolink-images[testing]``.
"""
