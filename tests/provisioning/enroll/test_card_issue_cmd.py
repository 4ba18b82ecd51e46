"""Issue 8, defect 3: `roamline provision card issue` checks everything local before it spends the token,
and a run that failed after the registry certified the card is finished by running it again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roamline.provisioning.cardfile import load_cardfile

from .registrar_support import Registrar


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
