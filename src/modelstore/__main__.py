import sys

from modelstore.cli import main

sys.exit(main())
