"""``python -m seqlab`` is the ``seqlab`` command."""

import sys

from .cli.main import main

sys.exit(main())
