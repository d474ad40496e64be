"""The hook through which another app grounds a reply in documents (the knowledge base registers one).

Before a reply is generated, :func:`evidence_for` asks each registered provider for :class:`Evidence`: rules
for the system prompt, passages to add to the question as quoted data, and the sources to store on the
message for citations. A provider that searched and found nothing relevant sets ``uncovered_reply``: the reply
is that sentence and the model is not asked, so it cannot invent an answer the documents do not give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Message


@dataclass(frozen=True)
class Evidence:
    system: str = ""
    context: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    uncovered_reply: str = ""


Provider = Callable[["Message"], "Evidence | None"]
_providers: list[Provider] = []


def register(provider: Provider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def evidence_for(message: Message) -> Evidence | None:
    """The first provider's evidence for ``message``, or None when no provider grounds it."""
    for provider in _providers:
        evidence = provider(message)
        if evidence is not None:
            return evidence
    return None
