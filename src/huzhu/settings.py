"""Django settings, all from the environment (see core.config). zh-hans first, Asia/Shanghai."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from huzhu.core.config import (
    PRIVATE_FILE,
    PRIVATE_FOLDER,
    allowed_hosts,
    database_from_url,
    default_storage_setting,
    huzhu_home,
    int_setting,
    money_setting,
    networks_setting,
    persistent_secret,
    private_folder,
)

BASE_DIR = Path(__file__).resolve().parent
HUZHU_HOME = huzhu_home()

SECRET_KEY = persistent_secret("SECRET_KEY", "secret_key", nbytes=48)
HUZHU_PII_KEY = persistent_secret("HUZHU_PII_KEY", "pii_key", nbytes=32)
DEBUG = os.environ.get("HUZHU_DEBUG", "") == "1"
# Requests naming any other host are refused with 400 (a forged Host header cannot steer the
# links and redirects huzhu builds): HUZHU_ALLOWED_HOSTS, default 127.0.0.1,localhost,[::1].
ALLOWED_HOSTS = allowed_hosts()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the API docs' Swagger UI from local static files, not a CDN
    "huzhu.core",
    "huzhu.accounts",
    "huzhu.audit",
    "huzhu.members",
    "huzhu.protection",
    "huzhu.settlement",
    "huzhu.stations",
    "huzhu.care",
    "huzhu.benefits",
    "huzhu.reports",
    "huzhu.web",
]

MIDDLEWARE = [
    "huzhu.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "huzhu.core.headers.SecurityHeadersMiddleware",
    "huzhu.core.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages and JSON compressed for phones on a weak network (static files come compressed from
    # WhiteNoise above, before this). Django masks the CSRF token per response and pads the gzip
    # header at random, against BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "huzhu.audit.middleware.DenialAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "huzhu.core.middleware.DatabaseLostMiddleware",
]

ROOT_URLCONF = "huzhu.urls"
WSGI_APPLICATION = "huzhu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "huzhu.web.menu.console_menu",
            ],
        },
    },
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
ON_POSTGRES = DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"

# Background jobs (huzhu.core.jobs), such as a settlement import started in the console:
# `queue` keeps them in PostgreSQL with Procrastinate, deferred in the transaction of the data
# that needs them and run by `huzhu worker` on any machine; `local` runs them on a thread of the
# process that queued them (the embedded default on SQLite, which needs nothing else).
HUZHU_JOBS = os.environ.get("HUZHU_JOBS") or ("queue" if ON_POSTGRES else "local")
if HUZHU_JOBS not in ("queue", "local"):
    raise ImproperlyConfigured(f"HUZHU_JOBS must be queue or local, not {HUZHU_JOBS!r}")
if HUZHU_JOBS == "queue" and not ON_POSTGRES:
    raise ImproperlyConfigured("HUZHU_JOBS=queue needs PostgreSQL (DATABASE_URL=postgres://...)")
if ON_POSTGRES:  # the queue's tables and functions, created by `migrate` (PostgreSQL only)
    INSTALLED_APPS.insert(INSTALLED_APPS.index("huzhu.core"), "procrastinate.contrib.django")
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = "tasks"
# A worker writes a heartbeat this often; a job whose worker has not for HUZHU_WORKER_STALLED
# seconds (killed, its machine lost) is run again by a live worker (huzhu.core.jobs).
HUZHU_WORKER_HEARTBEAT = int_setting("HUZHU_WORKER_HEARTBEAT", 10, minimum=1, maximum=3600)
HUZHU_WORKER_STALLED = int_setting("HUZHU_WORKER_STALLED", 60, minimum=2, maximum=86400)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["huzhu.accounts.throttle.ThrottledModelBackend"]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = HUZHU_HOME / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# `huzhu serve` collects the static files into STATIC_ROOT with content-hashed names and gzip and
# brotli copies (huzhu.core.static), and starts its workers with HUZHU_STATIC_MANIFEST=1: pages
# then link the hashed names, which WhiteNoise serves compressed and cached for a year
# (immutable). Everywhere else (tests, the shell, commands) the files are served from the apps.
STATIC_MANIFEST = os.environ.get("HUZHU_STATIC_MANIFEST", "") == "1"
STORAGES = {
    "default": default_storage_setting(),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = private_folder(HUZHU_HOME / "media")
MEDIA_URL = "/media/"
# Uploads (claim documents) are readable by their owner only, whatever the process's umask.
FILE_UPLOAD_PERMISSIONS = PRIVATE_FILE
FILE_UPLOAD_DIRECTORY_PERMISSIONS = PRIVATE_FOLDER

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if os.environ.get("HUZHU_TLS") == "1":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
HUZHU_MAX_UPLOAD_BYTES = int(os.environ.get("HUZHU_MAX_UPLOAD_BYTES", 200 * 1024 * 1024))
# An uploaded .xlsx (a zip) is refused before it is opened when its parts would unpack to more
# than HUZHU_XLSX_MAX_BYTES together (1 GiB: a sheet of Excel's 1,048,576 rows of a roster), or
# one part to more than HUZHU_XLSX_MAX_RATIO times its packed size (huzhu's own exports: 7 to 12).
HUZHU_XLSX_MAX_BYTES = int_setting("HUZHU_XLSX_MAX_BYTES", 1024**3, minimum=1, maximum=2**40)
HUZHU_XLSX_MAX_RATIO = int_setting("HUZHU_XLSX_MAX_RATIO", 100, minimum=1, maximum=100_000)

# The server's log on stderr: `plain` lines for people, or `json` (one object per line with the
# request id and any traceback) for a log collector in production.
LOG_FORMAT = os.environ.get("HUZHU_LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"HUZHU_LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "huzhu.core.requestid.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "huzhu.core.requestid.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "huzhu": {"handlers": ["console"], "level": os.environ.get("HUZHU_LOG_LEVEL", "INFO")},
        # A 4xx is an answer, not an incident (a flash crowd gives 24,000 sold_out): not even a
        # log record is made for one. Every 5xx is written to the server's log (stderr) with its
        # request id, and an unhandled exception with its traceback; Django's own handler of
        # this logger writes only when DEBUG is on, which left 500s without a trace.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

NINJA_PAGINATION_PER_PAGE = 50

# Text messages to members (huzhu.core.sms): a dotted path to a backend class.
HUZHU_SMS_BACKEND = os.environ.get("HUZHU_SMS_BACKEND", "huzhu.core.sms.LogBackend")

# 双人复核: a claim approval or a payout correction above this many yuan takes two people.
HUZHU_SECOND_APPROVAL_ABOVE = money_setting("HUZHU_SECOND_APPROVAL_ABOVE", "10000.00")

# -- sign-in, tokens and text messages (README "Security") ----------------------------------------
# Proxies whose X-Forwarded-For names the client (huzhu.core.client): addresses or networks.
HUZHU_TRUSTED_PROXIES = networks_setting("HUZHU_TRUSTED_PROXIES")
# Password checks per (account, address) pair, and failures per address, within the lockout
# time; one more and that pair (or address) waits out the lockout time (huzhu.accounts.throttle).
HUZHU_LOGIN_MAX_FAILURES = int_setting("HUZHU_LOGIN_MAX_FAILURES", 5, minimum=1)
HUZHU_LOGIN_MAX_PER_ADDRESS = int_setting("HUZHU_LOGIN_MAX_PER_ADDRESS", 30, minimum=1)
HUZHU_LOGIN_LOCKOUT_MINUTES = int_setting("HUZHU_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# A bearer token ends after this many days unused, and this many days after it was issued.
HUZHU_TOKEN_IDLE_DAYS = int_setting("HUZHU_TOKEN_IDLE_DAYS", 30, minimum=1, maximum=3660)
HUZHU_TOKEN_MAX_DAYS = int_setting("HUZHU_TOKEN_MAX_DAYS", 90, minimum=1, maximum=3660)
# Sign-in codes by SMS per hour: to one phone, asked from one address, for the whole city.
HUZHU_SMS_PER_PHONE = int_setting("HUZHU_SMS_PER_PHONE", 5, minimum=1)
HUZHU_SMS_PER_ADDRESS = int_setting("HUZHU_SMS_PER_ADDRESS", 20, minimum=1)
HUZHU_SMS_PER_HOUR = int_setting("HUZHU_SMS_PER_HOUR", 10000, minimum=1)
