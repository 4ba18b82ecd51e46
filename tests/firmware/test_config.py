from __future__ import annotations

from pathlib import Path

import pytest

from roamline.firmware.config import load_box_config
from roamline.wire.config import ConfigError


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    f = tmp_path / "box.toml"
    f.write_text('name = "a"\ndata_dir = "state"\n[registry]\nca = "keys/ca.pem"\nport = 5000\n'
                 '[card]\nreaders = ["Virtual PCD 00 00"]\n')
    cfg = load_box_config(f)
    assert cfg.data_dir == tmp_path / "state"
    assert cfg.registry.ca == tmp_path / "keys" / "ca.pem"
    assert cfg.registry.port == 5000
    assert cfg.card.readers == ("Virtual PCD 00 00",)


def test_bad_backend_is_named(tmp_path: Path) -> None:
    f = tmp_path / "box.toml"
    f.write_text('[card]\nbackend = "magic"\n')
    with pytest.raises(ConfigError, match=r"card\.backend"):
        load_box_config(f)


@pytest.mark.parametrize("board", ["pi3", "", "../board/profiles/sim", "sim.toml"])
def test_unknown_board_is_named(tmp_path: Path, board: str) -> None:
    f = tmp_path / "box.toml"
    f.write_text(f'board = "{board}"\n')
    with pytest.raises(ConfigError, match=r"board.*no board profile"):
        load_box_config(f)


def test_box_run_refuses_a_bad_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from roamline.cli.main import main

    f = tmp_path / "box.toml"
    f.write_text('board = "pi3"\n')
    assert main(["box", "run", "--config", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no board profile 'pi3'" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.toml"]  # no data directory made
