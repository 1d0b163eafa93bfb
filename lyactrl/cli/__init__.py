"""The ``lyactrl`` command line: ``lyactrl demo``, ``verify``, ``train`` and ``robustness``.

``main`` is the console script (``lyactrl = "lyactrl.cli:main"``); ``python -m lyactrl.cli``
runs it too. Every subcommand exits with 3 on bad input (a :class:`~lyactrl.LyactrlError`, an
exception raised by the user's own file or model, or an argparse usage error), with the message
on stderr and no traceback; ``lyactrl verify`` derives its other exit codes from the status of
its result (:func:`lyactrl._results.exit_code`).
"""

from ._main import main as main

__all__ = ["main"]
