"""User-facing errors: the CLI prints ``sdnet <command>: error: <message>`` and exits non-zero."""


class SdnetError(Exception):
    """A user mistake or bad input; the message is one line naming the file and the problem."""


class LabelError(SdnetError):
    """A malformed label file or line: an ICVL label line (the message names the file and the line
    number) or an NYU joint_data.mat (the message names the file)."""


class DepthImageError(SdnetError):
    """A depth PNG that is missing, unreadable, not in its dataset's encoding (ICVL: 16-bit gray;
    NYU: 8-bit RGB) or of the wrong size."""
