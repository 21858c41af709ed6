"""evolink-images: a typed client for EvoLink's asynchronous image-edit API."""

__all__ = ["__version__"]

__version__ = "0.1.0"
