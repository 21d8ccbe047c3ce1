"""The settings of a pytest run (``DJANGO_SETTINGS_MODULE`` in pyproject.toml): ``lotus.settings``
once this checkout's generated secrets (:mod:`lotus.local_secrets`) are in the environment, so
that ``python -m pytest`` (or ``pytest``) runs from a clean shell with ``DEBUG`` off. Processes
the tests start inherit them, so a stack started by a test and the test agree on the operator's
password. Variables already set win."""

from lotus import local_secrets

local_secrets.load()

from lotus.settings import *  # noqa: E402, F403
