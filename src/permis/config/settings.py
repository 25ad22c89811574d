"""Django settings for permis, read from the environment.

Every variable is listed in docs/operations.md. The defaults make a first run work on a laptop: debug mode,
SQLite under ./var/, a development secret key. A production deployment sets PERMIS_DEBUG=false, and then a real
PERMIS_SECRET_KEY and PERMIS_ALLOWED_HOSTS become mandatory and the HTTPS protections are switched on.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent  # src/permis


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("PERMIS_DEBUG", True)

# The DSFR is reserved to the State's own sites: anything else shows a "service de démonstration" banner.
OFFICIAL_DEPLOYMENT = env_bool("PERMIS_OFFICIAL_DEPLOYMENT", False)

_DEV_SECRET_KEY = "django-insecure-permis-development-only-never-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("PERMIS_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("PERMIS_SECRET_KEY is required when PERMIS_DEBUG is false")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("PERMIS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("PERMIS_CSRF_TRUSTED_ORIGINS")
# A form refused by the CSRF protection gets a page in the site's layout and language (permis.config.errors).
CSRF_FAILURE_VIEW = "permis.config.errors.csrf_failure"

# Runtime files (the default SQLite database, collected static files) live under ./var/.
VAR_DIR = Path(os.environ.get("PERMIS_VAR_DIR") or Path.cwd() / "var").resolve()

INSTALLED_APPS = [
    "django.contrib.auth",  # agents' accounts and permissions (the back office; /gestion/connexion/)
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dsfr",
    "django_tasks",
    "django_tasks_db",
    "permis.portal",
    "permis.registry",
    "permis.api",
    "permis.notices",
    "permis.accounts",
    "permis.audit",  # the access log (hash-chained) and share codes
    "permis.courses",  # approved course centres, sessions, attendance
    "permis.backoffice",  # the agents' pages under /gestion/: roles, corrections, integrity reports
    "ninja",  # the API documentation page with its own static files, no CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "permis.accounts.signed_in.AuthenticationMiddleware",  # Django's, with the user read with the session
    "permis.accounts.middleware.SessionActivityMiddleware",  # idle expiry of sessions (docs/accounts.md)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Agents sign in here before any page under /gestion/ (django.contrib.auth; roles come with the back office).
LOGIN_URL = "agent:login"

ROOT_URLCONF = "permis.config.urls"
WSGI_APPLICATION = "permis.config.wsgi.application"
ASGI_APPLICATION = "permis.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "permis.config.context_processors.deployment",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise (postgres://user@host:5432/name).
_DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'permis.sqlite3'}"
DATABASE_URL = os.environ.get("DATABASE_URL") or _DEFAULT_DATABASE_URL
if DATABASE_URL == _DEFAULT_DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
# Health checks are off by default: with persistent connections they cost a `SELECT 1` round trip at the start
# of every request that touches the database (a round trip of its own, on pages that make three), to spare the one request
# per worker that fails on a connection the server dropped (a database restart or failover); Django closes that
# connection after the failed request and the next one reconnects. PERMIS_DB_HEALTH_CHECKS=true buys that
# request back where restarts are frequent (docs/operations.md).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("PERMIS_DB_CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=env_bool("PERMIS_DB_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has one writer at a time. A transaction that starts reading and then writes cannot wait for the
    # lock (SQLite refuses the upgrade at once, "database is locked"): two imports, or an import and the worker,
    # failed so. Taking the write lock when the transaction begins (IMMEDIATE) makes the second one wait, up to
    # `timeout` seconds, like PostgreSQL's row locks do.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache is each worker's own memory (Django's default backend, made explicit): what is kept there is keyed by
# what it depends on (the holder pages' facts and pages under the file's version and the day; FranceConnect's
# answers for a few minutes), so workers need not share it, and a lookup costs no round trip. Sessions are not
# kept there but in the database: a signed-out session must end in every worker. Up to 2,000 entries per worker,
# about six per holder recently seen (Django's default of 300 keeps some fifty holders); a kept page weighs 10 to
# 40 kB, so the cache stays under 80 MB per worker.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 2000},
    }
}

# Background jobs are rows of the same database (django-tasks' database backend), run by `permis worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("PERMIS_TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("PERMIS_STATIC_ROOT") or VAR_DIR / "static")

# HTTPS protections: on by default outside debug mode (manage.py check --deploy stays clean).
SECURE_SSL_REDIRECT = env_bool("PERMIS_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("PERMIS_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PERMIS_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("PERMIS_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("PERMIS_TRUST_X_FORWARDED_PROTO", False):
    # Only behind a reverse proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Notices and documents (src/permis/notices/). Every variable is listed in docs/operations.md.
# Email: over SMTP when PERMIS_EMAIL_HOST is set; otherwise, on a laptop, written as files under var/mail/.
EMAIL_HOST = os.environ.get("PERMIS_EMAIL_HOST", "")
EMAIL_PORT = env_int("PERMIS_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("PERMIS_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("PERMIS_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("PERMIS_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("PERMIS_EMAIL_TIMEOUT", 10)
# SMTP connections a `permis notices send` worker keeps open side by side (each email is several round trips).
EMAIL_CONNECTIONS = env_int("PERMIS_EMAIL_CONNECTIONS", 4)
DEFAULT_FROM_EMAIL = os.environ.get(
    "PERMIS_EMAIL_FROM", "Permis de conduire <ne-pas-repondre@permis.example>"
)
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
# SMS: "file" writes each message under PERMIS_SMS_DIR (development); "http" posts to a provider's API.
SMS_BACKEND = os.environ.get("PERMIS_SMS_BACKEND", "file")
SMS_URL = os.environ.get("PERMIS_SMS_URL", "")
SMS_TOKEN = os.environ.get("PERMIS_SMS_TOKEN", "")
SMS_SENDER = os.environ.get("PERMIS_SMS_SENDER", "PERMIS")
SMS_DIR = Path(os.environ.get("PERMIS_SMS_DIR") or VAR_DIR / "sms")
# Post: one folder per day of PDFs and a manifest, collected by the print partner.
PRINT_QUEUE_DIR = Path(os.environ.get("PERMIS_PRINT_QUEUE_DIR") or VAR_DIR / "print")
# What one letter costs to post, in euro cents (a lettre verte in 2026), for the "postage saved" figure.
POSTAGE_UNIT_COST_CENTS = env_int("PERMIS_POSTAGE_UNIT_COST_CENTS", 152)
# Public address of the service, printed on letters and in emails and QR codes. The default suits a laptop only:
# outside debug mode `check --deploy` refuses it, and any address that is not public https (permis.config.checks).
PUBLIC_URL = (os.environ.get("PERMIS_PUBLIC_URL", "").strip() or "http://127.0.0.1:8000").rstrip("/")
# Document signatures (Ed25519). PERMIS_SIGNING_KEY: the current private key as "key-id:base64-of-32-bytes";
# PERMIS_VERIFY_KEYS: every public key still accepted, "key-id:base64,key-id:base64" (old keys stay here
# after a rotation so that old documents keep verifying). In debug mode a development key is derived from
# the secret key when none is set; in production a missing key stops the start.
SIGNING_KEY = os.environ.get("PERMIS_SIGNING_KEY", "")
VERIFY_KEYS = env_list("PERMIS_VERIFY_KEYS")
if not SIGNING_KEY and not DEBUG:
    raise ImproperlyConfigured("PERMIS_SIGNING_KEY is required when PERMIS_DEBUG is false")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("PERMIS_LOG_LEVEL", "INFO").upper()},
}

# The name the header shows; translated so that the English pages say the same thing in English.
SERVICE_NAME = "permis"
SERVICE_TAGLINE = _("Le permis à points, expliqué")

# Holders' accounts (src/permis/accounts/, docs/accounts.md): FranceConnect over OpenID Connect and local accounts.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # agents, and holders' local accounts (email + password)
    "permis.accounts.oidc.FranceConnectBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not the e-mail address's local part nor a name inside the password, however written (accents, case, dots).
    {"NAME": "permis.accounts.passwords.PersonalDataValidator"},
]
# Django's database sessions, read in the same statement as the account and its file (permis.accounts.signed_in,
# docs/adr/0003-one-query-signed-in-pages.md): a holder's page costs one round trip instead of three.
SESSION_ENGINE = "permis.accounts.signed_in"
# A signed-in session ends after this many minutes without a request (and at "log out everywhere").
SESSION_COOKIE_AGE = 60 * env_int("PERMIS_SESSION_IDLE_MINUTES", 30)
LOGIN_REDIRECT_URL = "accounts:home"
# FranceConnect: PERMIS_FC_ISSUER is the provider's base address; its endpoints are <issuer>/authorize, /token,
# /userinfo, /jwks and /logout (FranceConnect v2's layout). In debug mode the defaults point to the development
# provider `permis fcdev` on 127.0.0.1:8001; outside it, FranceConnect is off until PERMIS_FC_ISSUER is set.
FRANCECONNECT = {
    "ISSUER": os.environ.get("PERMIS_FC_ISSUER", "http://127.0.0.1:8001" if DEBUG else "").rstrip("/"),
    "CLIENT_ID": os.environ.get("PERMIS_FC_CLIENT_ID", "permis-dev" if DEBUG else ""),
    "CLIENT_SECRET": os.environ.get("PERMIS_FC_CLIENT_SECRET", "permis-dev-secret" if DEBUG else ""),
}
if FRANCECONNECT["ISSUER"] and not (FRANCECONNECT["CLIENT_ID"] and FRANCECONNECT["CLIENT_SECRET"]):
    raise ImproperlyConfigured(
        "PERMIS_FC_ISSUER is set: PERMIS_FC_CLIENT_ID and PERMIS_FC_CLIENT_SECRET are required"
    )
OIDC_RP_CLIENT_ID = FRANCECONNECT["CLIENT_ID"]
OIDC_RP_CLIENT_SECRET = FRANCECONNECT["CLIENT_SECRET"]
OIDC_RP_SIGN_ALGO = os.environ.get("PERMIS_FC_SIGN_ALGO", "RS256")
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{FRANCECONNECT['ISSUER']}/authorize"
OIDC_OP_TOKEN_ENDPOINT = f"{FRANCECONNECT['ISSUER']}/token"
OIDC_OP_USER_ENDPOINT = f"{FRANCECONNECT['ISSUER']}/userinfo"
OIDC_OP_JWKS_ENDPOINT = f"{FRANCECONNECT['ISSUER']}/jwks"
OIDC_OP_LOGOUT_ENDPOINT = f"{FRANCECONNECT['ISSUER']}/logout"
OIDC_RP_SCOPES = (
    "openid given_name family_name preferred_username birthdate gender birthplace birthcountry email"
)
OIDC_AUTH_REQUEST_EXTRA_PARAMS = {"acr_values": "eidas1"}
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:fc_callback"
OIDC_STORE_ID_TOKEN = True  # the hint FranceConnect's logout needs
OIDC_TIMEOUT = 10

# Partner API rate limits: requests per key per minute, by the scope of the endpoint called (0: no limit).
# One variable per scope (below) sets its limit,
# PERMIS_API_RATE_LIMIT_DEFAULT the others (docs/access.md). Police checks run roadside across the country
# through a few keys: their default allows 5,000 a second.
API_RATE_LIMIT_DEFAULT = env_int("PERMIS_API_RATE_LIMIT_DEFAULT", 600)
API_RATE_LIMITS = {
    "feed": env_int("PERMIS_API_RATE_LIMIT_FEED", 600),
    "post": env_int("PERMIS_API_RATE_LIMIT_POST", 600),
    "course_centre": env_int("PERMIS_API_RATE_LIMIT_COURSE_CENTRE", 300),
    "police": env_int("PERMIS_API_RATE_LIMIT_POLICE", 300_000),
    "police_balance": env_int("PERMIS_API_RATE_LIMIT_POLICE_BALANCE", 300_000),
    "third_party": env_int("PERMIS_API_RATE_LIMIT_THIRD_PARTY", 6_000),
}
# The holder's API (/api/v1/holder/, an OpenID Connect access token): after this many refused tokens from one
# client address within the accounts' throttle window (15 minutes), that address gets 429 without the provider
# being asked (0: no limit). Higher than the sign-in's 20: a phone operator's address is shared by many people.
API_HOLDER_REFUSED_LIMIT = env_int("PERMIS_API_HOLDER_REFUSED_LIMIT", 60)
# The holder's application sessions (POST /api/v1/holder/sessions, docs/api.md): a session unused this many days
# ends, and every session ends this many days after it opened, however often used; the holder then signs in
# through the provider again. A change applies at once to the idle limit, to the sessions opened after it for
# the absolute one.
API_APP_SESSION_IDLE_DAYS = env_int("PERMIS_API_APP_SESSION_IDLE_DAYS", 30)
API_APP_SESSION_MAX_DAYS = env_int("PERMIS_API_APP_SESSION_MAX_DAYS", 90)
if not 1 <= API_APP_SESSION_IDLE_DAYS <= API_APP_SESSION_MAX_DAYS:
    raise ImproperlyConfigured(
        "PERMIS_API_APP_SESSION_IDLE_DAYS must be at least 1 and at most PERMIS_API_APP_SESSION_MAX_DAYS, not "
        f"{API_APP_SESSION_IDLE_DAYS} (max {API_APP_SESSION_MAX_DAYS})"
    )

# The access log's chains (permis.audit): a read of a file is appended to chain holder_id % PERMIS_AUDIT_CHAINS,
# each chain with its own head and lock, so reads of different holders' files commit side by side (docs/audit.md).
# Changing it later is safe (every chain present is verified); a holder's later entries then go to another chain.
AUDIT_CHAINS = env_int("PERMIS_AUDIT_CHAINS", 16)
if not 1 <= AUDIT_CHAINS <= 1024:
    raise ImproperlyConfigured(f"PERMIS_AUDIT_CHAINS must be between 1 and 1024, not {AUDIT_CHAINS}")
