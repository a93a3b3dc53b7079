#!/usr/bin/env python3
"""Convert a slim Inception V2 checkpoint to Keras weights (= ``inception-v2 convert``)."""

import sys

from inception_v2.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]], standalone=True))
