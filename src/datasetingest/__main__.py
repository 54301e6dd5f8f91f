import sys

from datasetingest.service import main

sys.exit(main())
