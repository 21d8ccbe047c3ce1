import sys

from tests.chaos.main import main

sys.exit(main())
