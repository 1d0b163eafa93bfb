"""A report of titled sections of key-value findings, printable as text or JSON."""

from __future__ import annotations

from typing import Any

import torch

from .._results import jsonable

__all__ = ["Report"]


def _shown(val: Any) -> Any:
    if isinstance(val, float):
        return f"{val:.6g}"
    if isinstance(val, torch.Tensor):
        return (
            [[round(v, 4) for v in row] for row in val.tolist()] if val.ndim == 2 else val.tolist()
        )
    if isinstance(val, dict) and "message" in val and "c" in val:  # a decay bound
        return val["message"]
    return val


class Report:
    """Titled sections of findings; ``text()`` for people, ``to_dict()`` for JSON.

    Examples
    --------
    >>> from lyactrl.cli._report import Report
    >>> r = Report()
    >>> r.add("Check", status="certified", seconds=0.5)
    >>> print(r.text(), end="")
    Check
    -----
      status: certified
      seconds: 0.5
    """

    def __init__(self) -> None:
        self.sections: list[tuple[str, dict[str, Any]]] = []

    def add(self, title: str, **items: Any) -> None:
        """Append a section (empty values are left out of the text)."""
        self.sections.append((title, items))

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return {title: jsonable(items) for title, items in self.sections}

    def text(self) -> str:
        """The report as readable text."""
        lines: list[str] = []
        for title, items in self.sections:
            lines += [title, "-" * len(title)]
            for key, val in items.items():
                if isinstance(val, (str, list)) and not val or val is None:
                    continue
                lines.append(f"  {key}: {_shown(val)}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"
