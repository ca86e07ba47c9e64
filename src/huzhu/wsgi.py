"""WSGI entry point for the production server (gunicorn, started by `huzhu serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
application = get_wsgi_application()
