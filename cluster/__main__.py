"""Allow ``python -m cluster`` where the console script is not on PATH."""

from cluster.cli import main

raise SystemExit(main())
