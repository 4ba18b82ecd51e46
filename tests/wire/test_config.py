from __future__ import annotations

from pathlib import Path

import pytest

from roamline.wire.config import ConfigError, Frozen, load_toml


class Sample(Frozen):
    name: str
    port: int = 4433


def test_loads_and_freezes(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('name = "box-a"\n')
    cfg = load_toml(Sample, f)
    assert cfg == Sample(name="box-a", port=4433)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own frozen error
        cfg.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('name = "a"\nprot = 1\n', "prot: Extra inputs are not permitted"),
        ("name = 3\n", "name: Input should be a valid string"),
        ("name = \n", "not valid TOML"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, fragment: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_toml(Sample, f)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert str(f) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_toml(Sample, tmp_path / "nope.toml")
