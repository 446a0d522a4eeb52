"""User-facing errors: the CLI prints ``sdnet <command>: error: <message>`` and exits non-zero."""


class SdnetError(Exception):
    """A user mistake or bad input; the message is one line naming the file and the problem."""


class LabelError(SdnetError):
    """A malformed ICVL label line (the message names the file and the line number)."""


class DepthImageError(SdnetError):
    """A depth PNG that is missing, unreadable, not 16-bit or of the wrong size."""
