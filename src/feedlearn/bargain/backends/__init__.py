"""LLM backends by name (the extension point of ``bargain``): one file each, ``scripted`` is the template."""

from feedlearn.bargain.backends.base import Backend, Message, Params

__all__ = ["Backend", "Message", "Params"]
