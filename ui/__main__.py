"""`python -m ui [--store DIR] [--host H] [--port P]`: the same as `newsqa chat`."""

import sys

from ui.cli import main

sys.exit(main(["chat", *sys.argv[1:]]))
