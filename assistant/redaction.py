"""What users may see of an error: the one place engine errors are cleaned before they leave the server.

Engine errors are written for whoever runs the deployment and name model server URLs, file paths and internal
hosts. Messages keep the full text (for admins and logs); everything a user receives (message payloads over
REST and the websocket, exports) goes through :func:`user_facing_error`, which hides those details and keeps
the sentence and its advice.
"""

from __future__ import annotations

import re

ADDRESS = "[server address]"
PATH = "[path]"

_PATTERNS = [
    # URLs of any scheme, with whatever credentials, host, port and path they carry
    (re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>()\[\]]+"), ADDRESS),
    # Windows paths
    (re.compile(r"\b[A-Za-z]:\\[^\s'\"<>]+"), PATH),
    # POSIX paths of two or more parts (one part, such as /v1, is advice rather than a location)
    (re.compile(r"(?<![\w.~/-])~?/[\w.@%+=,-]+(?:/[\w.@%+=,-]*)+"), PATH),
    # IPv6 addresses in brackets, then IPv4 addresses, with an optional port
    (re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%\w]*\](?::\d{1,5})?"), ADDRESS),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), ADDRESS),
    # host:port (a port names a server even without a scheme); a name with a letter, so times stay
    (
        re.compile(r"\b(?=[\w.-]*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*:\d{2,5}\b"),
        ADDRESS,
    ),
]


def user_facing_error(text: str) -> str:
    """``text`` without URLs, file paths, IP addresses or host:port pairs."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
