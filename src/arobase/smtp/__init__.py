"""SMTP in: the MX listener for our domains and submission for our users.

`wire` (command lines, arguments, the DATA stream), `sasl` and `replies` are sans-I/O and tested
byte for byte; `session` applies them to one aiosmtpd connection; `listener` opens the ports.
"""

from .listener import open_smtp, start_listener
from .session import Connections, Mode, Settings, SMTPSession

__all__ = ["Connections", "Mode", "SMTPSession", "Settings", "open_smtp", "start_listener"]
