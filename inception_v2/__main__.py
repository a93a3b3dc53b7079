"""``python -m inception_v2`` is the ``inception-v2`` command."""

import sys

from inception_v2.cli import main

sys.exit(main())
