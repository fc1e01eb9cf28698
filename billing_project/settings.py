"""Settings for the billing backend, read from the environment only.

Every knob is an environment variable (documented in README.md and .env.example).
Without any of them the project runs embedded: SQLite, local-memory cache, Celery
in eager mode, console email, the sandbox gateway. Set DATABASE_URL / REDIS_URL /
EMAIL_URL to run against real services.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file (never committed) may hold the variables for development.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# --- secrets -------------------------------------------------------------------------
# With DEBUG off both keys must be given: a production deployment must never run on a
# key that is written in this repository.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"
_DEV_JWT_SIGNING_KEY = "dev-only-insecure-jwt-signing-key-do-not-use-in-production-9876"

SECRET_KEY = env.str("SECRET_KEY", default="")
JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (50+ random characters) in the environment, "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY
if not JWT_SIGNING_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "JWT_SIGNING_KEY is not set. Set JWT_SIGNING_KEY (a random secret, different from "
            "SECRET_KEY) in the environment, or set DEBUG=true for local development."
        )
    JWT_SIGNING_KEY = _DEV_JWT_SIGNING_KEY
if JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# Hosts that checkout / portal success and cancel URLs may point at.
ALLOWED_REDIRECT_HOSTS = env.list("ALLOWED_REDIRECT_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-current-org",
)

# Public base URL of this deployment, used in emails and hosted pages.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Where the links in password-reset and invitation emails point. "{token}" is replaced.
PASSWORD_RESET_URL = env.str("PASSWORD_RESET_URL", default=SITE_URL + "/reset-password?token={token}")
# The customer site's session sign-in (web): where /account/ pages send a signed-out
# visitor, and where signing in lands without a `next`.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/account/"
LOGOUT_REDIRECT_URL = "/login"
CSRF_FAILURE_VIEW = "web.views.errors.csrf_failure"
INVITATION_URL = env.str("INVITATION_URL", default=SITE_URL + "/invitations/accept?token={token}")

# --- applications ------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "corsheaders",
    "django_prometheus",
    "accounts",
    "organizations",
    "plans",
    "apikeys",
    "usage",
    "subscriptions",
    "invoices",
    "credits",
    "payments",
    "billing",
    "webhooks",
    "web",
    "idempotency",
    "django_celery_beat",
    "djstripe",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "billing_project.csp.ContentSecurityPolicyMiddleware",
    "web.middleware.ViewerTimezoneMiddleware",
    "billing_project.api.middleware.ApiErrorEnvelopeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = env.str("ROOT_URLCONF", default="billing_project.urls")
WSGI_APPLICATION = "billing_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context.site_context",
            ],
        },
    },
]

# --- database ----------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at the
    # start of a transaction, so two writers queue instead of failing mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, Redis, Celery ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="billing")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "billing_project.cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "billing-default",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# Usage hot paths: quota counters in Redis, the in-process catalogue of metrics and plans,
# and the API-key authentication cache.
QUOTA_REDIS_URL = env.str("QUOTA_REDIS_URL", default=REDIS_URL)
QUOTA_REDIS_TIMEOUT = env.float("QUOTA_REDIS_TIMEOUT", default=0.25)
QUOTA_REDIS_RETRY_SECONDS = env.float("QUOTA_REDIS_RETRY_SECONDS", default=5.0)
CATALOGUE_TTL = env.float("CATALOGUE_TTL", default=10.0)
# A change to an API key (revoke, rotate, scopes) deletes its cached entry, which takes
# effect at once wherever that cache is shared; a cached entry is also trusted only this
# long after the database read it came from, which bounds the change's delay whatever
# Redis does (a lost delete, processes with their own memory). One database read per key
# per this many seconds, for the whole fleet.
APIKEY_CACHE_SECONDS = env.int("APIKEY_CACHE_SECONDS", default=5)
APIKEY_NEGATIVE_CACHE_SECONDS = env.int("APIKEY_NEGATIVE_CACHE_SECONDS", default=30 if REDIS_URL else 5)
APIKEY_TOUCH_SECONDS = env.int("APIKEY_TOUCH_SECONDS", default=60)
# The same bound for what the service endpoints cache about an organization's billing (its
# plan, quota periods and usage cutoff; usage.context): changes delete it at once, and a
# lost delete lasts at most this long.
BILLING_CONTEXT_CACHE_SECONDS = env.int("BILLING_CONTEXT_CACHE_SECONDS", default=APIKEY_CACHE_SECONDS)

# Invoices: days until an issued invoice is due, and the seller printed on invoices (and
# named in emails). SELLER_ADDRESS takes its lines separated by "\n"; SELLER_LOGO_PATH is a
# PNG, JPEG or SVG file on disk (relative to the project directory, or absolute), embedded
# in the PDF: nothing is ever fetched over the network while rendering.
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=7)
SELLER = {
    "name": env.str("SELLER_NAME", default="Your Company Ltd"),
    "address": env.str("SELLER_ADDRESS", default="1 Example Street\n10115 Berlin\nGermany", multiline=True),
    "email": env.str("SELLER_EMAIL", default="billing@example.com"),
    "tax_id": env.str("SELLER_TAX_ID", default=""),
    "website": env.str("SELLER_WEBSITE", default=""),
    "logo": env.str("SELLER_LOGO_PATH", default=""),
}

# The billing cycle: payment gateway by default, grace window for late usage before a
# period's invoice is finalized, the dunning schedule (days after the first attempt) and
# how long a past-due subscription lasts before it is canceled.
DEFAULT_GATEWAY = env.str("DEFAULT_GATEWAY", default="sandbox")
BILLING_GRACE_SECONDS = env.int("BILLING_GRACE_SECONDS", default=3600)
DUNNING_RETRY_DAYS = [int(day) for day in env.list("DUNNING_RETRY_DAYS", default=["1", "3", "5"])]
DUNNING_CANCEL_AFTER_DAYS = env.int("DUNNING_CANCEL_AFTER_DAYS", default=7)
# A collection that failed on the gateway's side (down, timing out) is tried again this
# much later, without using up a dunning attempt.
COLLECTION_RETRY_MINUTES = env.int("COLLECTION_RETRY_MINUTES", default=15)
INCOMPLETE_EXPIRE_HOURS = env.int("INCOMPLETE_EXPIRE_HOURS", default=24)
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=48)

# Stripe through dj-stripe. Without STRIPE_SECRET_KEY the Stripe gateway is off (checkout
# with it is a 400); `manage.py stripe_setup` brings the keys and the webhook secret into
# dj-stripe's tables. STRIPE_API_HOST points the stripe library elsewhere (tests: a fake).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
if env.str("STRIPE_API_HOST", default=""):
    STRIPE_API_HOST = env.str("STRIPE_API_HOST")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
DJSTRIPE_SUBSCRIBER_MODEL = "organizations.Organization"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now (dj-stripe admin forms)

# The Indonesian gateways, in IDR. Xendit: pay links (Xendit Invoices), callbacks carry
# XENDIT_CALLBACK_TOKEN. Midtrans: Snap; notifications signed with the server key.
# Organizations in INDONESIA_COUNTRIES pay through INDONESIA_DEFAULT_GATEWAY when a
# checkout names no gateway (and that gateway is configured and takes the currency).
XENDIT_SECRET_KEY = env.str("XENDIT_SECRET_KEY", default="")
XENDIT_CALLBACK_TOKEN = env.str("XENDIT_CALLBACK_TOKEN", default="")
XENDIT_API_BASE = env.str("XENDIT_API_BASE", default="https://api.xendit.co")
MIDTRANS_SERVER_KEY = env.str("MIDTRANS_SERVER_KEY", default="")
MIDTRANS_CLIENT_KEY = env.str("MIDTRANS_CLIENT_KEY", default="")
MIDTRANS_IS_PRODUCTION = env.bool("MIDTRANS_IS_PRODUCTION", default=False)
MIDTRANS_API_BASE = env.str(
    "MIDTRANS_API_BASE",
    default="https://api.midtrans.com" if MIDTRANS_IS_PRODUCTION else "https://api.sandbox.midtrans.com",
)
MIDTRANS_SNAP_BASE = env.str(
    "MIDTRANS_SNAP_BASE",
    default="https://app.midtrans.com" if MIDTRANS_IS_PRODUCTION else "https://app.sandbox.midtrans.com",
)
# Every Midtrans notification that changes state is confirmed with its status API first
# (the signature covers only order id, status code and amount).
INDONESIA_DEFAULT_GATEWAY = env.str("INDONESIA_DEFAULT_GATEWAY", default="xendit")
INDONESIA_COUNTRIES = env.list("INDONESIA_COUNTRIES", default=["ID"])
# How long a Xendit or Midtrans pay link stays open (Midtrans: at most 7 days).
PAY_LINK_HOURS = env.int("PAY_LINK_HOURS", default=72)
GATEWAY_TIMEOUT_SECONDS = env.float("GATEWAY_TIMEOUT_SECONDS", default=20.0)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
# Without a broker, tasks run inline (eager) so the embedded default needs no worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# The schedule lives in the database (django-celery-beat), editable in the admin; the data
# migration payments/0002 creates the billing cycle, counter reconcile, credit expiry and
# idempotency-key purge entries.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- auth --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

PASSWORD_HASHERS = [
    "accounts.hashers.OWASPArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.LetterAndDigitValidator"},
]
# Password-reset tokens expire within an hour.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
# Failed logins allowed per email + IP in LOGIN_FAILURE_WINDOW seconds before 429.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=60)
# Number of trusted reverse proxies in front of the app (for the client IP).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)

JWT_ISSUER = env.str("JWT_ISSUER", default="billing-backend")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="billing-api")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "LEEWAY": 0,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Access tokens carry a digest of the password hash: a password change or reset
    # revokes every access token issued before it, not only the refresh tokens.
    "CHECK_REVOKE_TOKEN": True,
    "CHECK_USER_IS_ACTIVE": True,
}
if SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] > timedelta(minutes=15):
    raise ImproperlyConfigured("JWT_ACCESS_MINUTES must be 15 or less.")

# --- REST framework and OpenAPI ----------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["billing_project.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "billing_project.api.pagination.EnvelopeLimitOffsetPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "billing_project.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "billing_project.api.schema.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "anon_auth": env.str("THROTTLE_ANON_AUTH", default="30/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttles key on REMOTE_ADDR, or on what the NUM_PROXIES-th trusted proxy saw; a
    # client-sent X-Forwarded-For is never trusted on its own.
    "NUM_PROXIES": NUM_PROXIES,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Billing backend API",
    "DESCRIPTION": (
        "Accounts, organizations, plans, subscriptions, usage metering, invoices, credits "
        "and payments. Every response is wrapped in the envelope "
        '`{"success": true, "data": ...}` or `{"success": false, "error": {...}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "billing_project.api.schema.wrap_responses_in_envelope",
        "billing_project.api.schema.document_inbound_webhooks",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "organizations.models.Role",
        "InvoiceStatusEnum": "invoices.models.InvoiceStatus",
        "InvoiceReasonEnum": "invoices.models.InvoiceReason",
        "CreditNoteReasonEnum": "invoices.models.CreditNoteReason",
        "CreditNoteRefundMethodEnum": "invoices.models.CreditNoteRefundMethod",
        "SubscriptionStatusEnum": "subscriptions.models.Status",
        "APIKeyStatusEnum": ["active", "expired", "revoked"],
        "HealthStatusEnum": ["ok", "degraded"],
        "DisputeStatusEnum": "payments.models.DisputeStatus",
        "DisputeSourceEnum": "payments.models.DisputeSource",
        "DisputeReasonEnum": "payments.models.DisputeReason",
        "DisputeResolutionEnum": "payments.models.DisputeResolution",
        "DisputeActorEnum": "payments.models.DisputeActor",
    },
}

# --- i18n, static, email -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Billing <billing@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- security ------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^ready$", r"^live$", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "INFO"},
        "fontTools": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
    },
}

# Prometheus: don't export per-migration gauges on every start.
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- hardening: payments (gateways, webhooks) -----------------------------------------
# The sandbox gateway marks payments paid at a click: it is on only where it is asked for
# (DEBUG, i.e. `make run`, turns it on by default; production must never set it).
SANDBOX_GATEWAY_ENABLED = env.bool("SANDBOX_GATEWAY_ENABLED", default=DEBUG)

# --- hardening: Redis faults, API-key revocation ----------------------------------------
# When Redis stops answering, the cache (throttles, the login limiter, the API-key cache)
# is served from each process's memory and Redis is retried every CACHE_REDIS_RETRY_SECONDS
# (billing_project.cache.ResilientRedisCache); CACHE_REDIS_TIMEOUT is the most a request
# waits for Redis before that happens.
CACHE_REDIS_TIMEOUT = env.float("CACHE_REDIS_TIMEOUT", default=0.25)
CACHE_REDIS_RETRY_SECONDS = env.float("CACHE_REDIS_RETRY_SECONDS", default=5.0)
if REDIS_URL:
    CACHES["default"]["BACKEND"] = "billing_project.cache.ResilientRedisCache"
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": CACHE_REDIS_TIMEOUT,
        "socket_timeout": CACHE_REDIS_TIMEOUT,
        "failover_seconds": CACHE_REDIS_RETRY_SECONDS,
    }

# --- hardening: request bodies and input ------------------------------------------------
# The largest request body read, in bytes: bigger ones are 413 `payload_too_large` before
# any parsing. 2.5 MiB (Django's default, made explicit) is far more than any endpoint but
# the usage batch needs; POST /usage/batch-report has its own bound, sized for 1000 events
# at their largest allowed metadata (4 KB each).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
USAGE_BATCH_MAX_BODY_BYTES = env.int("USAGE_BATCH_MAX_BODY_BYTES", default=5_242_880)
# The longest URL (path plus query string, as sent) an /api/ request may have: longer ones
# are 414 `uri_too_long` in the envelope. It sits under gunicorn's own request-line ceiling
# (gunicorn.conf.py: 8190 bytes, answered with gunicorn's HTML page), so the API speaks first.
MAX_URL_BYTES = env.int("MAX_URL_BYTES", default=4096)
# JSON bodies are parsed with bounds: nesting too deep to parse, NaN/Infinity, and text no
# database stores (NUL, lone surrogates) are 400 naming the field (billing_project.api.parsers).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "billing_project.api.parsers.JSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]

# --- hardening: pages, redirects, operations endpoints -----------------------------------
# Content-Security-Policy of every server-rendered page (django-csp; billing_project.csp):
# nothing but this site's own scripts, styles and images, inline script only with the
# per-response nonce. Forms may also land on the ALLOWED_REDIRECT_HOSTS (the checkout's
# success/cancel redirects) and on CSP_FORM_ACTION_ORIGINS, the gateways' hosted payment
# pages the billing portal's Pay button redirects to.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CSP_FORM_ACTION_ORIGINS = env.list(
    "CSP_FORM_ACTION_ORIGINS",
    default=[
        "https://checkout.stripe.com",
        "https://checkout.xendit.co",
        "https://checkout-staging.xendit.co",
        MIDTRANS_SNAP_BASE.rstrip("/"),
    ],
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# The API docs (Swagger UI, ReDoc) are served from this site (drf-spectacular-sidecar),
# never from a CDN.
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)
STATICFILES_DIRS = [BASE_DIR / "static"]

# /health/detailed and /metrics tell an attacker what runs here: they answer 404 unless the
# request comes from OPS_ALLOWED_NETWORKS (client address as in NUM_PROXIES; loopback by
# default), carries "Authorization: Bearer <OPS_TOKEN>" (when OPS_TOKEN is set), or comes
# from a signed-in staff user (admin session). /health, /live and /ready stay public.
OPS_TOKEN = env.str("OPS_TOKEN", default="")
OPS_ALLOWED_NETWORKS = env.list("OPS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
