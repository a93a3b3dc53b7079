#!/usr/bin/env python3
"""The benchmark (= ``inception-v2 bench``): Keras port vs tf_slim's graph on this machine."""

import sys

from inception_v2.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]], standalone=True))
