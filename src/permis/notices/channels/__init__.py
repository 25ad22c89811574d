"""The channels a letter travels by: SMS through a provider, post through a print queue (email goes through
Django's own email backends, configured by the EMAIL_* settings).

Every channel reports a failure the same way, so the delivery worker needs no knowledge of any of them:
``TemporaryFailure`` (try again later, with backoff) or ``PermanentFailure`` (trying again cannot help; the
delivery ends ``failed``). Their message is the human-readable reason kept in ``Delivery.last_error``.
"""

from __future__ import annotations

from permis.notices.channels.errors import PermanentFailure, TemporaryFailure

__all__ = ["PermanentFailure", "TemporaryFailure"]
