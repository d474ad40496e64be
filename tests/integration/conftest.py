"""Service mode: PostgreSQL, Redis and a Celery broker (Redis or RabbitMQ), with real web and worker processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from django.conf import settings
from support import LiveClient, Process, free_port, service_env, start_web, start_worker


def broker_is(kind: str) -> bool:
    return settings.CELERY_BROKER_URL.startswith(kind)


@pytest.fixture
def clean_services(django_db_setup):
    """Empty Redis databases and broker queues, so nothing from an earlier test wakes a worker."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    if broker_is("redis"):
        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    else:
        from exaone_web.celery import app

        with app.connection_for_write() as conn:
            channel = conn.channel()
            for queue in ("text", "image", "vision", "default"):
                try:
                    channel.queue_purge(queue)
                except Exception:  # never declared: the broker closes the channel, open another
                    channel = conn.channel()


@pytest.fixture
def database_name(django_db_setup) -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


@pytest.fixture
def env(database_name, clean_services) -> dict[str, str]:
    return service_env(database_name)


@pytest.fixture
def worker(env, text_model):
    process = start_worker(env)
    yield process
    process.stop()


@pytest.fixture
def live(env, text_model):
    """daphne on a free port with the job sweeper on (as in production); returns its base URL."""
    port = free_port()
    web = start_web({**env, "JOBS_SWEEP_SECONDS": "1"}, port)
    yield web, f"http://127.0.0.1:{port}"
    web.stop()


@pytest.fixture
def browser(live, client, user) -> LiveClient:
    """``user`` signed in against the live server."""
    client.force_login(user)
    return LiveClient(live[1], client.cookies["sessionid"].value)


class RedisServer:
    """A redis-server of the test's own on a spare port, so the test may stop and start it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = Process(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            env=dict(os.environ),
            ready="Ready to accept connections",
            name="redis-server",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def wait_down(self) -> None:
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode != 0:
                return
            time.sleep(0.1)


@pytest.fixture
def own_redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()
