import sys

from modeltrainer.service import main

sys.exit(main())
