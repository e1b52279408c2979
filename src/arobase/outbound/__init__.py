"""Mail to other domains: the queue workers (queue), where a domain's mail goes (routing), SMTP to other
servers (transport), delivery status notifications (dsn) and DKIM signing (dkim)."""

from .queue import OutboundQueue, QueueSettings

__all__ = ["OutboundQueue", "QueueSettings"]
