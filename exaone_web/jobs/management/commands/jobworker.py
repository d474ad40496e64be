"""Start Celery workers for job queues: one process per queue, a thread pool sized to its engine.

One process per queue keeps one engine per process (a GPU worker loads its model once and feeds it many
requests); a thread pool as large as the text engine's parallel slots (plus one for titles) lets one process
decode every slot at once. With several queues, this command supervises one child per queue and stops them
all when it is told to stop or when one of them exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from exaone_web.jobs import backends
from exaone_web.jobs.kinds import QUEUES


class Command(BaseCommand):
    help = "Start Celery workers for job queues (service mode), one process per queue."

    def add_arguments(self, parser):
        parser.add_argument("-Q", "--queues", default=",".join(QUEUES), help="comma-separated queues")
        parser.add_argument(
            "-c", "--concurrency", type=int, default=0, help="threads per queue (default: from the engines)"
        )
        parser.add_argument("-n", "--hostname", default="%h", help="Celery node name suffix (default: host name)")
        parser.add_argument("-B", "--beat", action="store_true", help="also run the periodic job sweep (one per site)")
        parser.add_argument("-l", "--loglevel", default="info")

    def handle(self, *args, **options):
        queues = [q.strip() for q in options["queues"].split(",") if q.strip()]
        unknown = sorted(set(queues) - set(QUEUES))
        if unknown or not queues:
            raise CommandError(f"Unknown queue(s) {', '.join(unknown) or '(none)'}; use {', '.join(QUEUES)}.")
        commands = []
        for index, queue in enumerate(queues):
            threads = options["concurrency"] or backends.concurrency(queue)
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "exaone_web",
                "worker",
                "-P",
                "threads",
                "-c",
                str(threads),
                "-Q",
                queue,
                "-n",
                f"{queue}@{options['hostname']}",
                "-l",
                options["loglevel"],
                "--without-mingle",
                "--without-gossip",
            ]
            if options["beat"] and index == 0:
                command.append("--beat")
            self.stdout.write(f"queue {queue}: {threads} thread(s)")
            commands.append(command)
        if len(commands) == 1:
            os.execv(sys.executable, commands[0])  # noqa: S606 (replace this process with the worker)
        self._supervise(commands)

    def _supervise(self, commands: list[list[str]]) -> None:
        children = [subprocess.Popen(command) for command in commands]

        def stop(signum, _frame):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        stop(signal.SIGTERM, None)
        for child in children:
            child.wait()
        failed = [child.returncode for child in children if child.returncode]
        if failed:
            raise CommandError(f"A worker exited with status {failed[0]}.")
