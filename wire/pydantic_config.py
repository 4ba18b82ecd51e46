"""The pydantic base of configuration objects that are not on the box's path (``hil``'s rig files,
provisioning's card files). They load through :func:`roamline.wire.config.load_toml` like the msgspec
ones (:class:`roamline.wire.config.Frozen`); the box imports neither this module nor pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable, and unknown keys are errors (typos surface)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


__all__ = ["Frozen"]
