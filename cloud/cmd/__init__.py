"""Leaf modules of `roamline cloud …` (see roamline.cloud.commands)."""
