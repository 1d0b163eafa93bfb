"""Progress bars (tqdm) for calls that can take more than a few seconds.

One rule everywhere: ``progress=None`` shows a bar on standard error only when it is a
terminal; ``True`` forces it, ``False`` hides it (the command line passes ``False`` for
``--json`` and ``--quiet``).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(
    progress: bool | None,
    *,
    desc: str,
    total: float | None = None,
    unit: str = "it",
    initial: float = 0,
) -> Any:
    """A tqdm bar on standard error, shown by the rule above (a disabled bar costs nothing).

    Examples
    --------
    >>> from lyactrl._progress import progress_bar
    >>> with progress_bar(False, desc="certify", unit="box") as bar:
    ...     bar.update(10)
    """
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=not show,
        leave=False,
        file=sys.stderr,
    )
