"""How a channel says that sending failed, and whether trying again may help.

The delivery worker retries a ``TemporaryFailure`` with backoff (the provider is down, overloaded, slow, the
network is cut) and ends the delivery ``failed`` on a ``PermanentFailure`` (the provider refuses this message
and would refuse it again). The message of either is stored as ``Delivery.last_error`` and shown to agents: it
says what the provider or the system answered, and never carries a secret.
"""

from __future__ import annotations


class ChannelFailure(Exception):
    """A message could not be handed over to its channel. ``str(error)`` is the reason, for agents."""


class TemporaryFailure(ChannelFailure):
    """Sending failed for a reason that may pass: try again later.

    ``retry_after`` is the delay in seconds the provider asked for (an HTTP ``Retry-After``), when it said one;
    a worker may wait at least that long before the next attempt.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(ChannelFailure):
    """Sending failed and trying again cannot help (refused by the provider, conflicting data): end ``failed``."""
