"""Django settings for Lotus, read from the environment (twelve-factor).

Every variable is listed in the README. Nothing here needs to change between a laptop,
CI and Kubernetes: only the environment does.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from lotus.topology import SERVICES, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("LOTUS_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="lotus-dev-only-secret-key-change-me-in-production-0123456789")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

#: The services this process serves over HTTP (all of them unless told otherwise).
LOTUS_SERVICES = tuple(env.list("LOTUS_SERVICES", default=list(SERVICES)))

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
    + (["rest_framework.authentication.SessionAuthentication"] if "profiles" in LOTUS_SERVICES else []),
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

LOTUS_OPERATOR_EMAIL = env.str("LOTUS_OPERATOR_EMAIL", default="operator@lotus.local")
LOTUS_OPERATOR_PASSWORD = env.str("LOTUS_OPERATOR_PASSWORD", default="operator-secret-42")

# Messaging (see lotus.messaging): Kafka, topics, relay and consumers.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
LOTUS_KAFKA_NAMESPACE = env.str("LOTUS_KAFKA_NAMESPACE", default="")
LOTUS_KAFKA_PARTITIONS = env.int("LOTUS_KAFKA_PARTITIONS", default=3)
LOTUS_RELAY_BATCH_SIZE = env.int("LOTUS_RELAY_BATCH_SIZE", default=500)
LOTUS_RELAY_POLL_SECONDS = env.float("LOTUS_RELAY_POLL_SECONDS", default=1.0)
# A standby relay takes over within this long from a leader that died, froze or lost its network.
LOTUS_RELAY_LEASE_SECONDS = env.float("LOTUS_RELAY_LEASE_SECONDS", default=10.0)
# Refusals (while the broker answers) after which an outbox row is parked for an operator.
LOTUS_RELAY_MAX_ATTEMPTS = env.int("LOTUS_RELAY_MAX_ATTEMPTS", default=8)
LOTUS_OUTBOX_RETENTION_HOURS = env.float("LOTUS_OUTBOX_RETENTION_HOURS", default=24.0)
# Topics keep their records this long (`retention.ms`, set by `manage.py kafka_topics`). A
# consumer group whose committed offsets expired re-reads a topic from its earliest record, so
# a duplicate can arrive as long as Kafka keeps the message: the inbox must remember applied ids
# longer than that, by a margin for the consumer that catches up late.
LOTUS_KAFKA_RETENTION_HOURS = env.float("LOTUS_KAFKA_RETENTION_HOURS", default=168.0)
LOTUS_INBOX_RETENTION_MARGIN_HOURS = env.float("LOTUS_INBOX_RETENTION_MARGIN_HOURS", default=24.0)
LOTUS_INBOX_RETENTION_HOURS = env.float(
    "LOTUS_INBOX_RETENTION_HOURS", default=LOTUS_KAFKA_RETENTION_HOURS + LOTUS_INBOX_RETENTION_MARGIN_HOURS
)
if LOTUS_KAFKA_RETENTION_HOURS <= 0 or LOTUS_INBOX_RETENTION_MARGIN_HOURS < 0:
    raise ImproperlyConfigured(
        f"LOTUS_KAFKA_RETENTION_HOURS={LOTUS_KAFKA_RETENTION_HOURS:g} must be positive and "
        f"LOTUS_INBOX_RETENTION_MARGIN_HOURS={LOTUS_INBOX_RETENTION_MARGIN_HOURS:g} not negative"
    )
if LOTUS_INBOX_RETENTION_HOURS < LOTUS_KAFKA_RETENTION_HOURS + LOTUS_INBOX_RETENTION_MARGIN_HOURS:
    raise ImproperlyConfigured(
        f"LOTUS_INBOX_RETENTION_HOURS={LOTUS_INBOX_RETENTION_HOURS:g} is shorter than "
        f"LOTUS_KAFKA_RETENTION_HOURS={LOTUS_KAFKA_RETENTION_HOURS:g} + "
        f"LOTUS_INBOX_RETENTION_MARGIN_HOURS={LOTUS_INBOX_RETENTION_MARGIN_HOURS:g}: a message Kafka "
        "still redelivers would be applied twice once its inbox id is pruned; raise "
        "LOTUS_INBOX_RETENTION_HOURS (or unset it for the default) or lower the topics' retention"
    )
LOTUS_CONSUMER_MAX_ATTEMPTS = env.int("LOTUS_CONSUMER_MAX_ATTEMPTS", default=5)
LOTUS_CONSUMER_BACKOFF_SECONDS = env.float("LOTUS_CONSUMER_BACKOFF_SECONDS", default=0.2)
# How often applied offsets are committed to Kafka; a crash redelivers at most this much,
# which the inbox drops.
LOTUS_CONSUMER_COMMIT_INTERVAL_MS = env.int("LOTUS_CONSUMER_COMMIT_INTERVAL_MS", default=1000)
# Consumers publish the outbox rows of each batch themselves right after it commits (the relay
# takes over whatever they could not publish once the claim lapses); off: the relay does all.
LOTUS_CONSUMER_PUBLISHES = env.bool("LOTUS_CONSUMER_PUBLISHES", default=True)
LOTUS_OUTBOX_CLAIM_SECONDS = env.float("LOTUS_OUTBOX_CLAIM_SECONDS", default=10.0)
# A request that starts a saga publishes its first messages itself right after its commit
# (waiting at most LOTUS_WEB_PUBLISH_WAIT_SECONDS for the broker); off: the relay does.
LOTUS_WEB_PUBLISHES = env.bool("LOTUS_WEB_PUBLISHES", default=True)
LOTUS_WEB_PUBLISH_WAIT_SECONDS = env.float("LOTUS_WEB_PUBLISH_WAIT_SECONDS", default=1.0)

# Billing's waiting charges and stock's waiting reservations are first-come queues; one that
# has waited longer than this (seconds, by the database's clock) no longer holds back the
# ones behind it.
LOTUS_QUEUE_HOLD_SECONDS = env.float("LOTUS_QUEUE_HOLD_SECONDS", default=600)

#: How long an Idempotency-Key is remembered (lotus.idempotency).
LOTUS_IDEMPOTENCY_TTL_HOURS = env.float("LOTUS_IDEMPOTENCY_TTL_HOURS", default=24)

# Metrics (lotus.metrics): relays and consumers serve /metrics on this port when set.
LOTUS_METRICS_PORT = env.int("LOTUS_METRICS_PORT", default=0)
LOTUS_METRICS_COLLECTORS = {"orders": "orders.metrics.OrdersByStateCollector"}
PROMETHEUS_EXPORT_MIGRATIONS = False

# Saga deadlines: an order waiting longer than this in a state is cancelled by the system
# (seconds; 0 turns the deadline off). Checked by `manage.py expire_orders`.
LOTUS_PAYMENT_TIMEOUT = env.float("LOTUS_PAYMENT_TIMEOUT", default=0)
LOTUS_STOCK_TIMEOUT = env.float("LOTUS_STOCK_TIMEOUT", default=0)
LOTUS_DELIVERY_TIMEOUT = env.float("LOTUS_DELIVERY_TIMEOUT", default=0)
# An order still Cancelling after this is escalated once: flagged for the operator and its
# pending compensations asked for again (0: never).
LOTUS_CANCELLING_TIMEOUT = env.float("LOTUS_CANCELLING_TIMEOUT", default=300)
LOTUS_DEADLINE_CHECK_SECONDS = env.float("LOTUS_DEADLINE_CHECK_SECONDS", default=5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOTUS_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
