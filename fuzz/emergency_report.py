"""An emergency-call report from a box's outbox (wire/emergency.py check_report), as JSON.

The registry never refuses a report it can key: malformed fields become problems, not errors.
Documented error: ``UsageError`` only when there is no usable call id.
"""

from __future__ import annotations

import json

from roamline.wire.emergency import check_report
from roamline.wire.errors import UsageError

EXPECTED: tuple[type[BaseException], ...] = (UsageError,)


def target(data: bytes) -> None:
    try:
        payload = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return
    fields, problems = check_report(payload)
    json.dumps(fields)  # what is stored is JSON
    assert all(isinstance(p, str) for p in problems)
