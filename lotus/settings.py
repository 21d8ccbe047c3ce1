"""Django settings for Lotus, read from the environment (twelve-factor).

Every variable is listed in the README. Nothing here needs to change between a laptop,
CI and Kubernetes: only the environment does.
"""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

from lotus.topology import SERVICES, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("LOTUS_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="lotus-dev-only-secret-key-change-me-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])


def present(**keys: tuple[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The keys of one ``LOTUS`` section whose environment variable is set: ``KEY=(VARIABLE, parse)``."""
    return {key: parse(variable) for key, (variable, parse) in keys.items() if variable in env}


# Lotus's own settings, read in Python as ``lotus_settings.SECTION["KEY"]`` (lotus.conf, which
# holds every default and says what each does). A key is set here only when its variable is.
LOTUS: dict[str, Any] = {
    "KAFKA": present(
        NAMESPACE=("LOTUS_KAFKA_NAMESPACE", env.str),
        PARTITIONS=("LOTUS_KAFKA_PARTITIONS", env.int),
        RETENTION_HOURS=("LOTUS_KAFKA_RETENTION_HOURS", env.float),
    ),
    "RELAY": present(
        BATCH_SIZE=("LOTUS_RELAY_BATCH_SIZE", env.int),
        POLL_SECONDS=("LOTUS_RELAY_POLL_SECONDS", env.float),
        LEASE_SECONDS=("LOTUS_RELAY_LEASE_SECONDS", env.float),
        MAX_ATTEMPTS=("LOTUS_RELAY_MAX_ATTEMPTS", env.int),
    ),
    "OUTBOX": present(
        RETENTION_HOURS=("LOTUS_OUTBOX_RETENTION_HOURS", env.float),
        CLAIM_SECONDS=("LOTUS_OUTBOX_CLAIM_SECONDS", env.float),
    ),
    "INBOX": present(
        RETENTION_HOURS=("LOTUS_INBOX_RETENTION_HOURS", env.float),
        RETENTION_MARGIN_HOURS=("LOTUS_INBOX_RETENTION_MARGIN_HOURS", env.float),
    ),
    "CONSUMER": present(
        MAX_ATTEMPTS=("LOTUS_CONSUMER_MAX_ATTEMPTS", env.int),
        BACKOFF_SECONDS=("LOTUS_CONSUMER_BACKOFF_SECONDS", env.float),
        COMMIT_INTERVAL_MS=("LOTUS_CONSUMER_COMMIT_INTERVAL_MS", env.int),
        PUBLISHES=("LOTUS_CONSUMER_PUBLISHES", env.bool),
    ),
    "WEB": present(
        PUBLISHES=("LOTUS_WEB_PUBLISHES", env.bool),
        PUBLISH_WAIT_SECONDS=("LOTUS_WEB_PUBLISH_WAIT_SECONDS", env.float),
    ),
    "QUEUE": present(HOLD_SECONDS=("LOTUS_QUEUE_HOLD_SECONDS", env.float)),
    "IDEMPOTENCY": present(TTL_HOURS=("LOTUS_IDEMPOTENCY_TTL_HOURS", env.float)),
    "METRICS": present(PORT=("LOTUS_METRICS_PORT", env.int)),
    "DEADLINES": present(
        PAYMENT=("LOTUS_PAYMENT_TIMEOUT", env.float),
        STOCK=("LOTUS_STOCK_TIMEOUT", env.float),
        DELIVERY=("LOTUS_DELIVERY_TIMEOUT", env.float),
        CANCELLING=("LOTUS_CANCELLING_TIMEOUT", env.float),
        CHECK_SECONDS=("LOTUS_DEADLINE_CHECK_SECONDS", env.float),
    ),
    "OPERATOR": present(
        EMAIL=("LOTUS_OPERATOR_EMAIL", env.str),
        PASSWORD=("LOTUS_OPERATOR_PASSWORD", env.str),
    ),
}
if "LOTUS_SERVICES" in env:
    LOTUS["SERVICES"] = tuple(env.list("LOTUS_SERVICES"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "lotus",
    "lotus.messaging",
    "lotus.idempotency",
    "profiles",
    "billing",
    "orders",
    "stock",
    "delivery",
    "notifications",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "lotus.urls"
WSGI_APPLICATION = "lotus.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = database_settings(env, VAR_DIR)
DATABASE_ROUTERS = ["lotus.topology.ServiceRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "profiles.Customer"
# Argon2id first: memory-hard, and faster per login than PBKDF2 at a comparable strength.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # Sessions (the browsable API's login) only where the profiles database is at hand.
    "DEFAULT_AUTHENTICATION_CLASSES": ["lotus.auth.TokenAuthentication"]
    + (
        ["rest_framework.authentication.SessionAuthentication"] if "profiles" in LOTUS.get("SERVICES", SERVICES) else []
    ),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "lotus.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_SCHEMA_CLASS": "lotus.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.FormParser"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Lotus API",
    "DESCRIPTION": "An order saga across six services: profiles, billing, orders, stock, delivery, notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The API's one scheme is the bearer token; the browsable API's session is a convenience of
    # the profiles process that no client should build on.
    "AUTHENTICATION_WHITELIST": ["lotus.auth.TokenAuthentication"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "lotus.schema.drop_dangling_links"],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Status",
        "DeliveryStatusEnum": "delivery.models.DeliveryRequest.Status",
    },
    # Swagger UI from the installed package, not a CDN: the docs work offline too.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("LOTUS_JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("LOTUS_JWT_REFRESH_DAYS", default=7)),
    "SIGNING_KEY": env.str("LOTUS_JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

# Messaging (see lotus.messaging): the broker; the rest is in LOTUS.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")

PROMETHEUS_EXPORT_MIGRATIONS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOTUS_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
