"""Test settings: fast hashing; the service tests set DATABASE_URL / REDIS_URL themselves."""

from .base import *  # noqa: F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
# Keep the demo models out of the way of a running `make run`: tests build their own copies.
CHAT_STREAM_FLUSH_MS = env.int("CHAT_STREAM_FLUSH_MS", default=20)
# Tests run the job sweep themselves (exaone_web.jobs.sweep.sweep) when they need it.
JOBS_SWEEPER = False
