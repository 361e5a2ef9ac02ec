"""The one exception type for bad user input to the lab (the CLI exits 2 on it)."""


class LabError(ValueError):
    """Bad user input: an unknown experiment or parameter, a value out of range,
    a malformed seeds or grid spec. The message is one line and lists what is valid."""
