"""The box core (sans-I/O): card-roaming lifecycle, call control, dial plan and line, in one object."""
