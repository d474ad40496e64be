"""The one error type of the print package: its message is translated and says what to do."""

from __future__ import annotations


class PrintError(ValueError):
    """Bad print input (a size out of bounds, an impossible carton, a missing profile).

    The message is already translated into the active language, so views show it as it is.
    """
