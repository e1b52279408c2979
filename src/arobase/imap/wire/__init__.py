"""The IMAP wire format without I/O or state: receiver, parser, typed commands, responses, UTF-7."""
