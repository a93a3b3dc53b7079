#!/usr/bin/env python3
"""ImageNet evaluation with slim's protocol (= ``inception-v2 eval``)."""

import sys

from inception_v2.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]], standalone=True))
