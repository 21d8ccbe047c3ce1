"""A pytest plugin (``-p lotus.pytest_secrets`` in pyproject.toml's ``addopts``): the test run
gets this checkout's generated secrets (:mod:`lotus.local_secrets`) in its environment before
pytest-django loads the settings, which refuse to load without them (``DEBUG`` stays off).
Processes the tests start inherit them, so a stack started by a test and the test agree on the
operator's password. Variables already set win."""

from lotus import local_secrets

local_secrets.load()
