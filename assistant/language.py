"""Which language a message is in: Korean or English, from the script of its letters.

The product answers in Korean or English, so a script count is all the detection it needs: Hangul
syllables and jamo against Latin letters, with code blocks and URLs left out so a Korean question about
Python code still counts as Korean.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"```.*?```|`[^`]*`|https?://\S+", re.DOTALL)
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str, *, default: str = "en") -> str:
    """``"ko"`` or ``"en"``; ``default`` when the text has no letters of either script."""
    prose = _CODE.sub(" ", text)
    hangul = len(_HANGUL.findall(prose))
    latin = len(_LATIN.findall(prose))
    if hangul == 0 and latin == 0:
        return default
    # A Hangul syllable carries about three Latin letters' worth of sound.
    return "ko" if hangul * 3 >= latin else "en"


REPLY_INSTRUCTION = {
    "ko": "Reply in Korean (한국어로 답하세요).",
    "en": "Reply in English.",
}
