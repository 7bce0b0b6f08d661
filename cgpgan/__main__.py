import sys

from cgpgan.cli import main

sys.exit(main())
