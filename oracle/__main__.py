"""``python -m oracle``: the command line (see :mod:`oracle.cli`)."""

from oracle.cli import main

raise SystemExit(main())
