import sys

from edgesuite.cli import main

sys.exit(main())
