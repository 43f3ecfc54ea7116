"""The one exception a user can cause. The CLI prints its message as a single
line and exits with status 2; nothing else should reach the user as a traceback."""


class UserError(Exception):
    """A bad input: a preset, a data file, a device, a run id. The message is one
    sentence that names the thing and says what to do."""
