"""Helpers for showing the library inside the chapters."""

from __future__ import annotations

import inspect
import numbers
import textwrap
from typing import Any

import pandas as pd
from IPython.display import Markdown, display

__all__ = ["show_source", "for_display", "wrap_lines", "glue", "GLUE_PREFIX"]

# myst-nb's record format: a display output whose MIME types carry this prefix, named in its metadata.
GLUE_PREFIX = "application/papermill.record/"


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


def wrap_lines(text: object, width: int = 79) -> str:
    """``str(text)`` with every line longer than ``width`` wrapped at spaces, for printing.

    Each continuation is indented four spaces deeper than the line it continues, so a module's
    ``repr`` keeps its nesting readable and a printed report fits the book's code column (79
    characters) instead of scrolling sideways. A word longer than ``width`` stays whole.

    Example:
        >>> print(wrap_lines("  Conv2d(16, 16, kernel_size=(3, 3), bias=False)", width=30))
          Conv2d(16, 16,
              kernel_size=(3, 3),
              bias=False)
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 20:
        raise ValueError(f"expected width to be an int >= 20, got {width!r}")
    lines = []
    for line in str(text).splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        wrapped = textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False, drop_whitespace=True)
        lines.extend(wrapped if len(line) > width else [line])
    return "\n".join(lines)


def glue(name: str, value: Any, fmt: str = "") -> str:
    """Record ``value`` under ``name`` for the book's prose, and return it as text.

    The chapters' markdown quotes a measured number as ``{glue:text}`name```: the book build pastes the
    text recorded here, so the prose shows exactly what the code computed and cannot drift from it.
    The record is myst-nb's glue output (a hidden display with the ``application/papermill.record/``
    MIME prefix), written without importing myst-nb, so the chapters also run in Colab and Jupyter,
    where the role does not render: there the returned text, printed by the computing cell, shows the
    value. NumPy and torch scalars are converted to Python numbers first, so ``fmt`` works on them.

    Args:
        name: The key the prose uses; unique within a chapter.
        value: A number, or anything :func:`format` accepts with ``fmt``.
        fmt: A format specification, such as ``".2f"`` or ``",d"``, applied before recording, so the
            stored text is the rounded value the chapter prints (stable across machines).

    Returns:
        The recorded text, for the computing cell to print.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a glue name must be an identifier such as 'ssd_speedup', got {name!r}")
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # a NumPy or torch scalar
    if fmt and isinstance(value, numbers.Integral) and fmt[-1:] in "eEfFgG%":
        value = float(value)
    text = format(value, fmt)
    # Recorded as a Python string literal: myst-nb's role reads the record with ``ast.literal_eval``, which
    # would turn a bare "1.20" into the number 1.2 (and "+0.15" into 0.15); a quoted string stays verbatim.
    display({GLUE_PREFIX + "text/plain": repr(text)}, raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
    return text
