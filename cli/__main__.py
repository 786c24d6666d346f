"""``python -m cli``: the ``gridpatrol`` command line."""

from cli.main import main

raise SystemExit(main())
