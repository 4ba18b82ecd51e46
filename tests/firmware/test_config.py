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
