"""mkdocs hook: render Sphinx roles left in numpydoc docstrings as plain code.

Docstrings say ``:func:`simulate``` or ``:class:`~lyactrl.Quadratic```; mkdocstrings renders
the role name as text before the code span. This hook drops the role and, for ``~a.b.C``,
keeps the last component (Sphinx's convention).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|exc|obj|const):<code>(~?)([^<]*)</code>")


def _replace(match: re.Match[str]) -> str:
    name = match.group(2)
    if match.group(1):
        name = name.rsplit(".", 1)[-1]
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Strip Sphinx roles from the rendered page."""
    return _ROLE.sub(_replace, html)
