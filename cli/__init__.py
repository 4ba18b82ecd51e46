"""The `roamline` command face: finds each room's commands through entry points, imports lazily."""
