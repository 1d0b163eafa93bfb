"""``python -m lyactrl.cli``: the ``lyactrl`` command line."""

from ._main import main

raise SystemExit(main())
