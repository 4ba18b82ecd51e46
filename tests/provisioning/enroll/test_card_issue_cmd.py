"""Issue 8, defect 3: `roamline provision card issue` checks everything local before it spends the token,
and a run that failed after the registry certified the card is finished by running it again."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from roamline.cli.main import main as cli_main
from roamline.cloud.registry import Registry, RegistryConfig
from roamline.cloud.server import RegistryServer
from roamline.cloud.store import Card, SqliteStore, Token
from roamline.provisioning.cardfile import load_cardfile
from roamline.wire import identity

SERVER_NAME = "registry.roamline"
T = TypeVar("T")


class Registrar:
    """A registry on loopback in its own thread (the command under test runs its own event loop)."""

    def __init__(self, root: Path) -> None:
        now = time.time()
        self.ca = identity.CertificateAuthority.create(now=now)
        self.ca_path = root / "ca.pem"
        self.ca_path.write_bytes(self.ca.cert_pem)
        self.tls = self.ca.issue_registry_tls(dns_name=SERVER_NAME, now=now)
        self.db = root / "registry.db"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: SqliteStore = self.call(self._open)
        self.server = RegistryServer(Registry(self.store, self.ca, RegistryConfig()), host="127.0.0.1",
                                     port=0, tls_cert_pem=self.tls[0], tls_key_pem=self.tls[1],
                                     wall=time.time)

    def _open(self) -> SqliteStore:
        store = SqliteStore(self.db)
        store.open()
        store.create_account("acct-ann", "Ann", time.time())
        store.create_account("acct-bob", "Bob", time.time())
        return store

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the registry's thread (SQLite connections belong to the thread that made them)."""
        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.call(self.store.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def token(self) -> str:
        tok = identity.new_installer_token()
        self.call(self.store.add_token, Token(identity.token_hash(tok), "card", time.time() + 600, False))
        return tok

    def token_used(self, tok: str) -> bool:
        def used() -> bool:
            row = self.store.conn.execute("SELECT used FROM installer_tokens WHERE token_hash = ?",
                                          (identity.token_hash(tok),)).fetchone()
            return bool(row[0])
        return self.call(used)

    def cards(self) -> list[str]:
        sql = "SELECT card_id FROM cards ORDER BY 1"
        return self.call(lambda: [r[0] for r in self.store.conn.execute(sql)])

    def card(self, card_id: str) -> Card | None:
        return self.call(self.store.get_card, card_id)

    def issue(self, token: str, out: Path, *extra: str, account: str = "acct-ann") -> int:
        return cli_main(["provision", "card", "issue", "--registry", f"127.0.0.1:{self.server.port}",
                         "--ca", str(self.ca_path), "--token", token, "--account", account,
                         "--out", str(out), *extra])


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[Registrar]:
    r = Registrar(tmp_path)
    r.start()
    yield r
    r.stop()


@pytest.mark.parametrize("bad", [
    ("--pin", "12"),            # a PIN the card would refuse
    ("--pin", "12345a"),
    ("--guid", "zz" * 16),      # not a card id
    ("--timeout", "nan"),
])
def test_bad_local_input_spends_nothing(registrar: Registrar, tmp_path: Path, capsys: Any,
                                        bad: tuple[str, str]) -> None:
    tok = registrar.token()
    assert registrar.issue(tok, tmp_path / "card.toml", *bad) != 0
    err = capsys.readouterr().err
    assert err.startswith("roamline") and len(err.strip().splitlines()) == 1  # one line, before any I/O
    assert not registrar.token_used(tok) and registrar.cards() == []
    assert not (tmp_path / "card.toml").exists()


@pytest.mark.parametrize("where", ["missing-dir/card.toml", "afile/card.toml", "."])
def test_unwritable_output_spends_nothing(registrar: Registrar, tmp_path: Path, where: str) -> None:
    (tmp_path / "afile").write_text("not a directory")
    tok = registrar.token()
    assert registrar.issue(tok, tmp_path / where) != 0
    assert not registrar.token_used(tok) and registrar.cards() == []


def test_a_failed_run_is_finished_by_running_it_again(registrar: Registrar, tmp_path: Path, capsys: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import roamline.provisioning.cardfile as cardfile

    out = tmp_path / "card.toml"
    tok = registrar.token()
    real_save = cardfile.save_cardfile

    def disk_full(card: Any, path: Any) -> None:
        raise cardfile.UsageError(f"{path}: cannot write card file: [Errno 28] No space left on device")

    monkeypatch.setattr(cardfile, "save_cardfile", disk_full)
    assert registrar.issue(tok, out) != 0  # certified at the registry, but the card file was not written
    assert not out.exists() and len(registrar.cards()) == 1
    monkeypatch.setattr(cardfile, "save_cardfile", real_save)
    capsys.readouterr()
    assert registrar.issue(tok, out) == 0  # the same token again: the same card, the same keys
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = load_cardfile(out)
    assert result["card_id"] == card.card_id == registrar.cards()[0] and len(registrar.cards()) == 1
    assert set(result["slots"]) == {"9e", "9a"} and card.slot_9a is not None
    stored = registrar.card(card.card_id)
    assert stored is not None and stored.cert_pem == card.slot_9e.cert_pem
    assert not list(tmp_path.glob("card.toml.*"))  # no pending state left behind


def test_issue_over_an_issued_card_id_is_refused(registrar: Registrar, tmp_path: Path) -> None:
    assert registrar.issue(registrar.token(), tmp_path / "a.toml", "--guid", "ab" * 16) == 0
    bob = registrar.token()
    assert registrar.issue(bob, tmp_path / "b.toml", "--guid", "ab" * 16, account="acct-bob") != 0
    stored = registrar.card("ab" * 16)
    assert stored is not None and stored.account_id == "acct-ann"
    assert not registrar.token_used(bob)
