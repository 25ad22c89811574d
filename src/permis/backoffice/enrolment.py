"""The enrolment code: what, besides the password, lets an agent set up their second factor the first time.

Without it, whoever learnt an agent's password before the agent's first sign-in (a password sent by e-mail,
read over a shoulder, reused elsewhere) could enrol their own authenticator application in the agent's name and
keep the account. So an agent without a second factor enrols only with a single-use code that an administrator
hands over apart from the password, in person or by another channel (``permis agent create``, ``permis agent
reset-2fa`` and ``permis agent enrolment-code`` print one). The code is valid ``VALID_DAYS`` days, only its keyed
hash is kept (``permis.accounts.second_factor.recovery_hash``, as for recovery codes), a wrong one counts against
the sign-in's throttle like a wrong password, and it is used up when the factor is enabled.

An agent created before enrolment codes existed has none: an administrator issues one
(``permis agent enrolment-code LOGIN``) before the agent's first sign-in.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.utils import timezone
from django.utils.crypto import constant_time_compare

from permis.accounts.second_factor import recovery_hash

from .models import AgentProfile

VALID_DAYS = 7
# No 0/O, 1/I/L: the code is read from a sheet or a screen and typed by hand.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 12  # 31^12, about 59 bits: far beyond what the throttle's few tries a quarter of an hour can reach


def issue(profile: AgentProfile, *, now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """A new enrolment code for the agent, replacing any former one: (the code in clear, to be handed over once;
    until when it is valid)."""
    raw = "".join(secrets.choice(ALPHABET) for _n in range(LENGTH))
    code = "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))
    expires = (now or timezone.now()) + dt.timedelta(days=VALID_DAYS)
    digest = recovery_hash(code)
    AgentProfile.objects.filter(pk=profile.pk).update(
        enrolment_code_hash=digest, enrolment_code_expires=expires
    )
    profile.enrolment_code_hash, profile.enrolment_code_expires = digest, expires
    return code, expires


def valid(profile: AgentProfile, code: str, *, now: dt.datetime | None = None) -> bool:
    """Whether `code` is the agent's enrolment code, not expired (spaces, dashes and case do not matter)."""
    stored = (
        AgentProfile.objects.filter(pk=profile.pk)
        .values_list("enrolment_code_hash", "enrolment_code_expires")
        .first()
    )
    if stored is None or not stored[0] or stored[1] is None or stored[1] <= (now or timezone.now()):
        return False
    return constant_time_compare(stored[0], recovery_hash(code))


def use(profile: AgentProfile) -> None:
    """The factor is enabled: the code has served (call it in the same transaction)."""
    AgentProfile.objects.filter(pk=profile.pk).update(enrolment_code_hash="", enrolment_code_expires=None)
    profile.enrolment_code_hash, profile.enrolment_code_expires = "", None


def state(profile: AgentProfile, *, now: dt.datetime | None = None) -> str:
    """For ``permis agent list``: whether the agent can enrol now."""
    if profile.totp_enabled:
        return "2fa"
    if not profile.enrolment_code_hash or profile.enrolment_code_expires is None:
        return "no 2fa, no enrolment code"
    if profile.enrolment_code_expires <= (now or timezone.now()):
        return "no 2fa, enrolment code expired"
    return f"no 2fa, enrolment code until {timezone.localtime(profile.enrolment_code_expires):%Y-%m-%d %H:%M}"
