"""Pytest plugin: one private pcscd per test session, two vpcd readers, virtual PIV cards.

Register it once, in the top-level ``conftest.py`` of a test tree (``tests/conftest.py`` here)::

    pytest_plugins = ["roamline.hil.pytest_pcsc"]

Importing this module does nothing but define things. At ``pytest_configure`` (before any test or
fixture runs, so before any PC/SC call in the process) it makes the private pcscd's directory and sets
``PCSCLITE_CSOCK_NAME`` in ``os.environ`` for the whole process, because libpcsclite reads it once, at the
process's first SCardEstablishContext: every PC/SC client in the test process (pyscard, our reader loop)
and every subprocess (opensc-tool, pkcs15-tool) then talks to the private pcscd. At the end of the
session the daemon is stopped, the variable restored and the directory removed.

Fixtures:
- ``pcscd`` (session): the started ``PcscDaemon`` (one per session, made at configure time, started on
  first use); ``pcscd.readers`` are its two ``VpcdReader``s.
- ``card_ca`` (session): a ``TestCa`` that makes card files (``card_ca.make_cardfile()``).
- ``card_rig`` (function): a ``CardRig`` on that pcscd; it restarts pcscd if a previous test stopped it, and
  at teardown removes every card it inserted and waits until pcscd has seen the removals.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamline.hil.card.issue import TestCa
from roamline.hil.card.piv import VirtualCard
from roamline.hil.card.vpcd import CardSocket
from roamline.hil.errors import UsageError
from roamline.hil.pcsc import SOCKET_ENV, PcscDaemon, wait_reader
from roamline.provisioning.cardfile import CardFile

DAEMON = pytest.StashKey[PcscDaemon]()


def pytest_configure(config: pytest.Config) -> None:
    """Point the process's PC/SC clients at the private pcscd (not started yet) before anything runs."""
    workdir = Path(tempfile.mkdtemp(prefix="roamline-pcsc-"))
    daemon = PcscDaemon(workdir)
    previous = os.environ.get(SOCKET_ENV)
    os.environ[SOCKET_ENV] = str(daemon.socket_path)
    config.stash[DAEMON] = daemon

    def cleanup() -> None:  # add_cleanup runs these last-in first-out: this one goes last
        if previous is None:
            os.environ.pop(SOCKET_ENV, None)
        else:
            os.environ[SOCKET_ENV] = previous
        shutil.rmtree(workdir, ignore_errors=True)

    config.add_cleanup(cleanup)
    config.add_cleanup(daemon.stop)


class CardRig:
    """Insert and remove virtual cards in the private pcscd's readers (by index 0/1 or reader name)."""

    def __init__(self, daemon: PcscDaemon) -> None:
        self.daemon = daemon
        self.sockets: dict[int, CardSocket] = {}

    @property
    def readers(self) -> list[str]:
        return [r.name for r in self.daemon.readers]

    def _index(self, reader: int | str) -> int:
        if isinstance(reader, int):
            if not 0 <= reader < len(self.daemon.readers):
                raise UsageError(f"no reader {reader}")
            return reader
        try:
            return self.readers.index(reader)
        except ValueError:
            raise UsageError(f"no reader {reader!r}") from None

    def insert(self, card: CardFile | VirtualCard, reader: int | str = 0, *, wait: bool = True) -> CardSocket:
        """Put ``card`` in ``reader``; with ``wait``, return once pcscd reports it present."""
        i = self._index(reader)
        self.remove(i)  # always wait here: re-inserting before pcscd saw the removal confuses it
        vcard = card if isinstance(card, VirtualCard) else VirtualCard(card)
        sock = CardSocket(vcard)
        sock.insert(self.daemon.readers[i].port)
        self.sockets[i] = sock
        if wait:
            wait_reader(self.readers[i], True)
        return sock

    def remove(self, reader: int | str = 0, *, wait: bool = True) -> None:
        """Take the card out of ``reader`` (no-op if empty); with ``wait``, until pcscd reports it gone."""
        i = self._index(reader)
        sock = self.sockets.pop(i, None)
        if sock is None:
            return
        sock.remove()
        if wait and self.daemon.running:
            wait_reader(self.readers[i], False)

    def close(self) -> None:
        for i in list(self.sockets):
            self.remove(i)


@pytest.fixture(scope="session")
def pcscd(pytestconfig: pytest.Config) -> PcscDaemon:
    daemon = pytestconfig.stash[DAEMON]
    daemon.start()
    return daemon


@pytest.fixture(scope="session")
def card_ca() -> TestCa:
    return TestCa()


@pytest.fixture
def card_rig(pcscd: PcscDaemon) -> Iterator[CardRig]:
    pcscd.start()  # a previous test may have stopped or killed it
    rig = CardRig(pcscd)
    try:
        yield rig
    finally:
        pcscd.start()
        rig.close()
