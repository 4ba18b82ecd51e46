"""Pytest fixtures: one private pcscd per test session, two vpcd readers, virtual PIV cards.

Use from a conftest.py in your test folder::

    from roamline.hil.pytest_pcsc import card_ca, card_rig, pcscd  # noqa: F401  (fixtures)

Importing this module sets ``PCSCLITE_CSOCK_NAME`` in ``os.environ`` for the whole process, because
libpcsclite reads it once, at the process's first SCardEstablishContext: every PC/SC client in the test
process (pyscard, our reader loop) and every subprocess (opensc-tool, pkcs15-tool) then talks to the
private pcscd. Import it before anything in the process makes a PC/SC call (a conftest import is early
enough).

Fixtures:
- ``pcscd`` (session): the started ``PcscDaemon`` (one per process, see ``session_daemon``);
  ``pcscd.readers`` are its two ``VpcdReader``s. It is stopped at process exit.
- ``card_ca`` (session): a ``TestCa`` that makes card files (``card_ca.make_cardfile()``).
- ``card_rig`` (function): a ``CardRig`` on that pcscd; it restarts pcscd if a previous test stopped it, and
  at teardown removes every card it inserted and waits until pcscd has seen the removals.
"""

from __future__ import annotations

import atexit
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

PCSC_DIR = Path(tempfile.mkdtemp(prefix="roamline-pcsc-"))
os.environ[SOCKET_ENV] = str(PCSC_DIR / "pcscd.comm")
atexit.register(shutil.rmtree, PCSC_DIR, True)


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


_daemon: PcscDaemon | None = None


def session_daemon() -> PcscDaemon:
    """The process's one private pcscd, started. Several conftests importing the ``pcscd`` fixture make
    several session fixtures; they must all share this daemon (clients can only reach one pcscd)."""
    global _daemon
    if _daemon is None:
        _daemon = PcscDaemon(PCSC_DIR)
        atexit.register(_daemon.stop)  # runs before the directory's removal (atexit is LIFO)
    _daemon.start()
    return _daemon


@pytest.fixture(scope="session")
def pcscd() -> PcscDaemon:
    return session_daemon()


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
