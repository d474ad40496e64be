"""Test settings: fast hashing; the service tests set DATABASE_URL / REDIS_URL themselves."""

from .base import *  # noqa: F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
# Keep the demo models out of the way of a running `make run`: tests build their own copies.
CHAT_STREAM_FLUSH_MS = env.int("CHAT_STREAM_FLUSH_MS", default=20)
# Tests run the job sweep themselves (exaone_web.jobs.sweep.sweep) when they need it.
JOBS_SWEEPER = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import os

    # A file, as in the embedded mode, not SQLite's shared in-memory cache: that one locks whole tables and
    # ignores the busy timeout, so worker threads and the job heartbeat would fail where the app does not.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
