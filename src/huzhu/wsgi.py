"""WSGI entry point for the production server (granian, started by `huzhu serve`).

Phone API requests (a bearer token, no cookie) take the lighter handler of huzhu.api.fastlane;
everything else Django's usual one."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huzhu.settings")
_django = get_wsgi_application()

from huzhu.api.fastlane import phone_lane  # noqa: E402 - needs the apps loaded
from huzhu.core.metrics import wsgi_metrics  # noqa: E402

application = wsgi_metrics(phone_lane(_django))
