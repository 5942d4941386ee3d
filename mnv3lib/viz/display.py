"""Helpers for showing the library inside the chapters."""

from __future__ import annotations

import inspect
import textwrap

import pandas as pd
from IPython.display import Markdown

__all__ = ["show_source", "for_display"]


def show_source(obj: object) -> Markdown:
    """The library's own source of ``obj`` (a function, class or method) as a highlighted code block.

    Chapters use this instead of copying library code, so what the reader sees is what runs.
    """
    try:
        source = inspect.getsource(obj)
    except (TypeError, OSError) as error:
        raise TypeError(f"cannot show the source of {obj!r}: expected a function, class or method ({error})") from None
    module = getattr(inspect.getmodule(obj), "__name__", "?")
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return Markdown(f"`{module}.{name}`\n\n```python\n{textwrap.dedent(source)}```")


def for_display(table: pd.DataFrame, missing: str = "–") -> pd.DataFrame:
    """A copy of ``table`` for people: "not applicable" cells (``<NA>``) shown as ``missing``."""
    return table.astype(object).where(table.notna(), missing)
