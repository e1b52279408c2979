"""SMTP replies: a code, an enhanced status code (RFC 3463) and text, rendered in one place.

We advertise ENHANCEDSTATUSCODES, so every reply after the greeting must carry one; keeping the
replies as values (instead of strings scattered through the session) lets the sans-I/O pieces
return them and the tests compare them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    status: str  # enhanced status code such as "5.1.1", or "" for the greeting and EHLO
    text: str

    @property
    def is_error(self) -> bool:
        """Transient and permanent failures count towards the session's error limit."""
        return self.code >= 400

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def render(self) -> bytes:
        """The reply on the wire: continuation lines `250-...`, last line `250 ...`, each CRLF."""
        prefix = f"{self.status} " if self.status else ""
        lines = self.lines
        out = [f"{self.code}-{prefix}{line}" for line in lines[:-1]]
        out.append(f"{self.code} {prefix}{lines[-1]}")
        return ("\r\n".join(out) + "\r\n").encode("utf-8")

    def __str__(self) -> str:
        return self.render().decode("utf-8").rstrip("\r\n")


# Commands and sequencing
OK = Reply(250, "2.0.0", "OK")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
RESET = Reply(250, "2.0.0", "Reset")
VRFY = Reply(252, "2.5.0", "Cannot verify the user, but will accept the message and attempt delivery")
HELP = Reply(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY STARTTLS AUTH")
BYE = Reply(221, "2.0.0", "Bye")
START_DATA = Reply(354, "", "End data with <CR><LF>.<CR><LF>")
START_TLS = Reply(220, "2.0.0", "Ready to start TLS")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")

# Syntax
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
BARE_NEWLINE = Reply(500, "5.5.2", "Bare CR or LF is not allowed; lines end with CRLF")
NUL_BYTE = Reply(500, "5.5.2", "NUL bytes are not allowed")
NOT_UTF8 = Reply(500, "5.5.2", "Command is not valid UTF-8")
BAD_SYNTAX = Reply(500, "5.5.2", "Syntax error")
UNKNOWN_COMMAND = Reply(500, "5.5.1", "Command not recognized")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Command not implemented")
BAD_SEQUENCE = Reply(503, "5.5.1", "Bad sequence of commands")
NEED_EHLO = Reply(503, "5.5.1", "Send EHLO or HELO first")
NEED_MAIL = Reply(503, "5.5.1", "Need MAIL before RCPT")
NEED_RCPT = Reply(503, "5.5.1", "Need RCPT before DATA")
NESTED_MAIL = Reply(503, "5.5.1", "Sender already specified")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "No valid recipients")
ARGUMENT_SYNTAX = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
PARAMETER_UNKNOWN = Reply(555, "5.5.4", "Parameter not recognized or not implemented")
BAD_ADDRESS = Reply(501, "5.1.3", "Bad address syntax")
UTF8_ADDRESS_NEEDS_SMTPUTF8 = Reply(553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter")

# Recipients and policy
NO_SUCH_USER = Reply(550, "5.1.1", "No such user here")
RELAY_DENIED = Reply(554, "5.7.1", "Relay access denied")
OVER_QUOTA = Reply(452, "4.2.2", "Mailbox full, try again later")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
TOO_BIG = Reply(552, "5.3.4", "Message too big")
EIGHT_BIT = Reply(554, "5.6.1", "8-bit data without BODY=8BITMIME")
MESSAGE_RATE = Reply(451, "4.7.1", "Too many messages sent in the last hour, try again later")
RECIPIENT_RATE = Reply(550, "5.7.1", "Daily recipient limit reached")
SENDER_NOT_OWNED = Reply(553, "5.7.1", "Sender address not owned by the authenticated user")
FROM_NOT_OWNED = Reply(553, "5.7.1", "From header address not owned by the authenticated user")
NO_FROM = Reply(550, "5.6.0", "Message has no From header")
STORED = Reply(250, "2.0.0", "Message accepted")
TEMPORARY_FAILURE = Reply(451, "4.3.0", "Temporary failure, try again later")
AUTH_TEMPORARY = Reply(451, "4.4.3", "Sender authentication checks failed temporarily, try again later")

# TLS and authentication
TLS_NOT_AVAILABLE = Reply(454, "4.7.0", "TLS not available")
TLS_ALREADY = Reply(503, "5.5.1", "TLS already active")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
AUTH_NOT_OFFERED = Reply(502, "5.5.1", "AUTH is not offered on this port; use submission")
AUTH_ALREADY = Reply(503, "5.5.1", "Already authenticated")
AUTH_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_INVALID = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_ABORTED = Reply(501, "5.7.0", "Authentication aborted")
AUTH_BAD_BASE64 = Reply(501, "5.5.2", "Cannot decode the base64 response")
AUTH_LOCKED = Reply(454, "4.7.0", "Too many failed logins, try again later")

# Closing
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Too many errors, closing connection")
TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection")
SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, closing connection")
