"""What each kind of job does: registered once by the app that owns it (chat, studio, knowledge)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Job
    from .runner import JobContext

QUEUES = ("text", "image", "vision", "default")


@dataclass(frozen=True)
class JobKind:
    """A kind of job and its handlers.

    ``run(job, context)`` does the work in a worker; it reads ``context.cancelled()`` between tokens or steps
    and returns normally when it stops early. ``failed(job, message)`` is called once when the job ends
    without ``run`` finishing it (its worker died, the sweep failed it, it raised): the owning app marks its
    own object failed and tells open pages, in the user's words. Both are called with the job's id only
    re-fetched, never with stale objects from the web process.
    """

    name: str
    queue: str
    run: Callable[[Job, JobContext], None]
    failed: Callable[[Job, str], None]
    #: Titles and similar niceties: claimed only when no regular job waits, and preempted by one.
    housekeeping: bool = False

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"Unknown queue {self.queue!r}; use one of {', '.join(QUEUES)}.")


_kinds: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    existing = _kinds.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"Job kind {kind.name!r} is registered twice.")
    _kinds[kind.name] = kind
    return kind


def get(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"No job kind {name!r} is registered; is its app in INSTALLED_APPS?") from None
