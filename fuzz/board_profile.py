"""Board profiles (board/profile.py loads_profile): Pi model, card slots, SLIC pins, modem, GPS, LEDs.

Documented error: the board room's ``UsageError`` (not TOML, or an invalid profile).
"""

from __future__ import annotations

from roamline.board.errors import UsageError
from roamline.board.profile import loads_profile

EXPECTED: tuple[type[BaseException], ...] = (UsageError,)


def target(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # refused by load_profile before parsing ("cannot read")
    loads_profile(text, "board.toml")
