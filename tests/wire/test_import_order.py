"""The wire modules import in any order: wire.calls, wire.voicemail and wire.messages build on each
other, and each is some program's first import (a test, a tool, the box's store)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("first", ["roamline.wire.calls", "roamline.wire.voicemail",
                                   "roamline.wire.messages"])
def test_each_wire_module_can_be_imported_first_and_registers_every_message(first: str) -> None:
    code = (f"import {first}\nfrom roamline.wire import messages\n"
            "print('\\n'.join(sorted(messages.MESSAGE_TYPES)))")
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    types = set(done.stdout.split())
    assert {"call.offer", "voicemail.audio"} <= types, types
