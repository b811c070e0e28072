"""Allow ``python -m receiver`` as an alias of the ``runbookd`` console script."""

from receiver.cli import main

raise SystemExit(main())
