"""Django settings for Lotus, read from the environment (twelve-factor).

Every variable is listed in the README. Nothing here needs to change between a laptop,
CI and Kubernetes: only the environment does.
"""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

from lotus.keys import jwt_keys, secret_key
from lotus.topology import SERVICES, database_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("LOTUS_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# No default: with DEBUG off a missing, short or published key stops the process (lotus.keys).
SECRET_KEY = secret_key(env, debug=DEBUG)
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
        REPLICATION_FACTOR=("LOTUS_KAFKA_REPLICATION_FACTOR", env.int),
        MIN_INSYNC_REPLICAS=("LOTUS_KAFKA_MIN_INSYNC_REPLICAS", env.int),
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
    "THROTTLE": present(
        LOGIN_ACCOUNT=("LOTUS_THROTTLE_LOGIN_ACCOUNT", env.str),
        LOGIN_ADDRESS=("LOTUS_THROTTLE_LOGIN_ADDRESS", env.str),
        REGISTER=("LOTUS_THROTTLE_REGISTER", env.str),
        TOP_UP=("LOTUS_THROTTLE_TOP_UP", env.str),
        PLACE=("LOTUS_THROTTLE_PLACE", env.str),
    ),
    "PAGINATION": present(
        DEFAULT_LIMIT=("LOTUS_PAGE_DEFAULT_LIMIT", env.int),
        MAX_LIMIT=("LOTUS_PAGE_MAX_LIMIT", env.int),
    ),
    "BILLING": present(
        MAX_TOP_UP=("LOTUS_MAX_TOP_UP", env.int),
        MAX_BALANCE=("LOTUS_MAX_BALANCE", env.int),
    ),
    "METRICS": present(PORT=("LOTUS_METRICS_PORT", env.int)),
    "DEADLINES": present(
        PAYMENT=("LOTUS_PAYMENT_TIMEOUT", env.float),
        STOCK=("LOTUS_STOCK_TIMEOUT", env.float),
        DELIVERY=("LOTUS_DELIVERY_TIMEOUT", env.float),
        CANCELLING=("LOTUS_CANCELLING_TIMEOUT", env.float),
        CHECK_SECONDS=("LOTUS_DEADLINE_CHECK_SECONDS", env.float),
    ),
    "RECONCILE": present(
        GRACE_SECONDS=("LOTUS_RECONCILE_GRACE_SECONDS", env.float),
        KEEP_RUNS=("LOTUS_RECONCILE_KEEP_RUNS", env.int),
    ),
    # The password has no default: scripts/secrets.sh generates one per checkout.
    "OPERATOR": present(
        EMAIL=("LOTUS_OPERATOR_EMAIL", env.str),
        PASSWORD=("LOTUS_OPERATOR_PASSWORD", env.str),
    ),
    "ADMIN": present(
        STUCK_AFTER_SECONDS=("LOTUS_STUCK_AFTER_SECONDS", env.float),
        TRACE_VIEWER_URL=("LOTUS_TRACE_VIEWER_URL", env.str),
    ),
}
if "LOTUS_SERVICES" in env:
    LOTUS["SERVICES"] = tuple(env.list("LOTUS_SERVICES"))
served = LOTUS.get("SERVICES", SERVICES)

INSTALLED_APPS = [
    "lotus.admin_site.LotusAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "lotus",
    "lotus.messaging",
    "lotus.idempotency",
    "lotus.throttling",
    "profiles",
    "billing",
    "orders",
    "stock",
    "delivery",
    "notifications",
    "sagas",
    "reconciliation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lotus.limits.BodySizeMiddleware",
    # Before anything reads the request: a credential in the query string is refused (400).
    "lotus.credentials.QueryStringCredentialsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# The largest request body, checked for every request and parser (lotus.limits): 413 beyond it.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("LOTUS_MAX_BODY_BYTES", default=256 * 1024)

# HTTPS. With LOTUS_TLS the site is served over HTTPS by a TLS-terminating proxy (the ingress),
# which says so in X-Forwarded-Proto: cookies are sent over HTTPS only, plain HTTP is redirected
# and browsers are told to use HTTPS from then on (HSTS). Probes and scrapes that reach a pod
# directly over HTTP inside the cluster are not redirected. Off by default: `make up` and the
# tests speak plain HTTP.
TLS = env.bool("LOTUS_TLS", default=False)
if TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = TLS
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=TLS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if TLS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=TLS)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=TLS)

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
# Argon2id first: memory-hard, and faster per login than PBKDF2 at a comparable strength; sized
# for a web pod (profiles.hashers). Hashes made with other parameters are redone at the next login.
PASSWORD_HASHERS = [
    "profiles.hashers.WebArgon2PasswordHasher",
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
# AsyncAPI's renderer for /api/asyncapi (npm, pinned in package-lock.json; scripts/npm.sh and the
# Dockerfile install it): its browser bundle and style sheet under static/asyncapi/, offline like
# Swagger UI. Left out when npm has not installed it; the page then says so.
ASYNCAPI_UI_DIR = BASE_DIR / "node_modules" / "@asyncapi" / "react-component"
STATICFILES_DIRS = [
    ("asyncapi", directory)
    for directory in (ASYNCAPI_UI_DIR / "browser" / "standalone", ASYNCAPI_UI_DIR / "styles")
    if directory.is_dir()
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # Sessions (the browsable API's login) only where the profiles database is at hand.
    "DEFAULT_AUTHENTICATION_CLASSES": ["lotus.auth.TokenAuthentication"]
    + (["rest_framework.authentication.SessionAuthentication"] if "profiles" in served else []),
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
    # Proxies in front of the web processes that append to X-Forwarded-For (an ingress: 1); 0
    # trusts only REMOTE_ADDR, so a client cannot choose the address it is throttled by.
    "NUM_PROXIES": env.int("LOTUS_NUM_PROXIES", default=0),
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

# Profiles alone signs (RS256, its private key); every service verifies with the public key.
jwt = jwt_keys(env, debug=DEBUG, serves=tuple(served))
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("LOTUS_JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("LOTUS_JWT_REFRESH_DAYS", default=7)),
    "ALGORITHM": "RS256",
    "SIGNING_KEY": jwt.private or None,
    "VERIFYING_KEY": jwt.public,
    # A refresh gives a new refresh token and revokes the one it used (token_blacklist, in the
    # profiles database); a revoked one is refused, and /profile/logout revokes one.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

# Messaging (see lotus.messaging): the broker; the rest is in LOTUS.
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
# How every client authenticates to the broker (librdkafka properties; lotus.messaging.kafka).
# PLAINTEXT, the default, sends no credentials: a laptop's broker. SASL_PLAINTEXT or SASL_SSL
# with SCRAM: the chart's broker, where each service's principal may write only its own topics.
KAFKA_SECURITY = {
    "security.protocol": env.str("KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT"),
    "sasl.mechanism": env.str("KAFKA_SASL_MECHANISM", default="SCRAM-SHA-512"),
    "sasl.username": env.str("KAFKA_SASL_USERNAME", default=""),
    "sasl.password": env.str("KAFKA_SASL_PASSWORD", default=""),
    "ssl.ca.location": env.str("KAFKA_SSL_CA_LOCATION", default=""),
}

PROMETHEUS_EXPORT_MIGRATIONS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOTUS_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
