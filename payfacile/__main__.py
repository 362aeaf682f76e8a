import sys

from payfacile.cli import main

sys.exit(main())
