import sys

from lotus import local_secrets
from tests.chaos.main import main

local_secrets.load()  # the stack's keys and the operator's password, unless the environment sets them

sys.exit(main())
