from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from msgspec import Meta

from roamline.wire.config import ConfigError, Frozen, load_toml


class Inner(Frozen, frozen=True, kw_only=True):
    level: Annotated[int, Meta(ge=1)] = 1
    where: Path = Path("here")

    def __post_init__(self) -> None:
        if self.level == 7:
            raise ValueError("level: seven is not allowed")


class Sample(Frozen, frozen=True, kw_only=True):
    name: str
    port: int = 4433
    inner: Inner = Inner()


def test_loads_and_freezes(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('name = "box-a"\n')
    cfg = load_toml(Sample, f)
    assert cfg == Sample(name="box-a", port=4433)
    assert load_toml(Sample, _write(f, 'name = "b"\n[inner]\nwhere = "x/y"\n')).inner.where == Path("x/y")
    with pytest.raises(Exception):  # noqa: B017 - msgspec raises AttributeError
        cfg.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('name = "a"\nprot = 1\n', "prot: unknown field"),
        ("name = 3\n", "name: Expected `str`, got `int`"),
        ("port = 1\n", "name: missing"),
        ('name = "a"\n[inner]\nlevel = 0\n', "inner.level: Expected `int` >= 1"),
        ('name = "a"\n[inner]\nlevel = 7\n', "inner.level: seven is not allowed"),
        ('name = "a"\n[inner]\nlevle = 2\n', "inner.levle: unknown field"),
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


def _write(f: Path, text: str) -> Path:
    f.write_text(text)
    return f


def test_a_pydantic_model_loads_through_the_same_loader(tmp_path: Path) -> None:
    """hil's rigs and provisioning's card files are still pydantic models: same loader, same errors."""
    from roamline.wire.pydantic_config import Frozen as PydanticFrozen

    class Rig(PydanticFrozen):
        name: str

    f = tmp_path / "rig.toml"
    assert load_toml(Rig, _write(f, 'name = "r"\n')) == Rig(name="r")
    with pytest.raises(ConfigError, match=r"rig\.toml: nmae: Extra inputs are not permitted"):
        load_toml(Rig, _write(f, 'name = "r"\nnmae = 1\n'))
