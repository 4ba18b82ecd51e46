from __future__ import annotations

from pathlib import Path

import pytest

from roamline.hil.rig import load_rig
from roamline.wire.config import ConfigError


def test_demo_rig_loads() -> None:
    rig = load_rig("demo")
    assert [b.name for b in rig.boxes] == ["box-a", "box-b"]
    assert rig.cards[0].account == "alice"


def test_card_for_unknown_account_is_rejected(tmp_path: Path) -> None:
    f = tmp_path / "r.toml"
    f.write_text('name = "x"\n[[cards]]\nname = "c"\naccount = "nobody"\n')
    with pytest.raises(ConfigError, match="unknown account 'nobody'"):
        load_rig(f)
