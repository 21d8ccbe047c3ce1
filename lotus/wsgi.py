"""WSGI entry point: ``gunicorn lotus.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lotus.settings")

application = get_wsgi_application()

from lotus.runtime import settle_heap  # noqa: E402 -- once Django and the apps are loaded

settle_heap()
