"""Test helpers for code that uses evolink-images: the spec's schemas (and, later, a fake EvoLink).

Needs the ``testing`` extra: ``pip install evolink-images[testing]``.
"""
