"""Errors the store raises; each says what is wrong in words fit for a user."""


class StoreError(Exception):
    """Base class of every store error."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


class InvalidOperation(StoreError):
    """A request the store refuses on principle (deleting INBOX, a domain that still has users)."""


class MigrationRequired(StoreError):
    pass
