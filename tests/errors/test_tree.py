"""One exception tree: every exception class Roamline defines is a RoamlineError, on exactly one branch.

The scan imports every module of the distribution in a child process (so import-time work of any module
cannot leak into this test process) and reports each exception class defined there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from roamline.errors import RoamlineError, RoamlinePeerError, RoamlineUsageError

ROOMS = ("wire", "board", "firmware", "cloud", "provisioning", "hil")

# Room bases: what room an error comes from, on neither branch (board has none: MicroPython cannot derive
# a class from two exception classes). Nothing raises them directly.
BASES = {"roamline.errors.RoamlineError", "roamline.wire.errors.WireError",
         "roamline.cloud.errors.CloudError", "roamline.firmware.errors.FirmwareError",
         "roamline.provisioning.errors.ProvisioningError", "roamline.hil.errors.HilError"}

# Not errors of the product: control flow inside the face (caught there, never escapes a command).
OUTSIDE_THE_TREE = {"roamline.cli.tree.CommandNotFound"}

SCAN = textwrap.dedent("""
    import importlib, json, pkgutil
    import roamline
    from roamline.errors import RoamlineError, RoamlinePeerError, RoamlineUsageError
    found = {}
    for info in pkgutil.walk_packages(roamline.__path__, "roamline."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{obj.__qualname__}"] = [
                    issubclass(obj, RoamlineError), issubclass(obj, RoamlineUsageError),
                    issubclass(obj, RoamlinePeerError)]
    print(json.dumps(found))
""")


@pytest.fixture(scope="module")
def classes() -> dict[str, list[bool]]:
    done = subprocess.run([sys.executable, "-P", "-c", SCAN], capture_output=True, text=True, check=True,
                          timeout=120)
    found: dict[str, list[bool]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_scan_sees_every_room(classes: dict[str, list[bool]]) -> None:
    for room in ROOMS:
        assert f"roamline.{room}.errors.UsageError" in classes
        assert f"roamline.{room}.errors.PeerError" in classes
    assert "roamline.firmware.card.errors.PinBlocked" in classes and len(classes) > 50


def test_every_exception_class_is_on_exactly_one_branch(classes: dict[str, list[bool]]) -> None:
    outside = sorted(name for name, (root, _u, _p) in classes.items() if not root)
    assert set(outside) == OUTSIDE_THE_TREE
    assert set(classes) >= BASES
    for name, (root, usage, peer) in classes.items():
        if root and name not in BASES:
            which = "both" if usage else "neither"
            assert usage != peer, f"{name} must be a usage error or a peer error, not {which}"


@pytest.mark.parametrize("room", ROOMS)
def test_each_rooms_usage_and_peer_errors_derive_from_the_branches(room: str) -> None:
    errors = __import__(f"roamline.{room}.errors", fromlist=["UsageError", "PeerError"])
    assert issubclass(errors.UsageError, RoamlineUsageError) and not issubclass(errors.UsageError,
                                                                                 RoamlinePeerError)
    assert issubclass(errors.PeerError, RoamlinePeerError) and not issubclass(errors.PeerError,
                                                                              RoamlineUsageError)
    with pytest.raises(RoamlineError):
        raise errors.PeerError("x")


def test_sub_package_errors_sit_on_their_branch() -> None:
    from roamline.cloud.errors import Refused, StoreError
    from roamline.firmware.card.errors import ReaderUnavailableError
    from roamline.firmware.line.errors import IllegalTransition, ModemTimeout
    from roamline.wire.config import ConfigError
    from roamline.wire.errors import BadSignature

    for usage in (StoreError, IllegalTransition, ConfigError):
        assert issubclass(usage, RoamlineUsageError)
    for peer in (Refused, ReaderUnavailableError, ModemTimeout, BadSignature):
        assert issubclass(peer, RoamlinePeerError)
