"""The relying party: FranceConnect signs a person in, and the identity pivot links the holder's file.

mozilla-django-oidc runs the authorization code flow (state and nonce kept in the session). This backend adds
what FranceConnect requires and the library leaves out: the ID token's issuer, audience and expiry are checked,
the userinfo's subject must be the ID token's, and the identity pivot's claims must all be there. The account
is found by FranceConnect's subject (pairwise: stable for this service), created at the first visit, and linked
to the holder whose identity equals the pivot when there is exactly one such holder.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from . import linking
from .identities import matching_holders
from .models import Account, HolderLink, LinkMethod

logger = logging.getLogger(__name__)

PIVOT_CLAIMS = ("sub", "given_name", "family_name", "birthdate", "gender")
LINK_REASON = "permis_link_reason"  # session key read by the linking page: "none" | "several"


def enabled() -> bool:
    return bool(settings.FRANCECONNECT.get("ISSUER"))


class FranceConnectBackend(OIDCAuthenticationBackend):
    def authenticate(self, request: Any, **kwargs: Any) -> User | None:
        if not enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_payload_data(self, token: bytes | str, key: Any) -> dict[str, Any]:
        """Verify the signature and the claims the library does not: iss, aud, exp, iat."""
        header = jwt.get_unverified_header(token)
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"ID token signed with {header.get('alg')!r}, expected {self.OIDC_RP_SIGN_ALGO}"
            )
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.FRANCECONNECT["ISSUER"],
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                leeway=30,
            )
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(f"ID token refused: {error}") from error

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        info = super().get_userinfo(access_token, id_token, payload)
        if info.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo's sub differs from the ID token's")
        return info

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return all(claims.get(name) for name in PIVOT_CLAIMS)

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return User.objects.filter(account__franceconnect_sub=claims["sub"])

    @transaction.atomic
    def create_user(self, claims: dict[str, Any]) -> User:
        user = User(username=f"franceconnect:{claims['sub']}"[:150], is_active=True)
        user.set_unusable_password()
        self._copy_claims(user, claims)
        user.save()
        Account.objects.create(user=user, franceconnect_sub=claims["sub"], email_verified_at=timezone.now())
        self.link(user, claims)
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        self._copy_claims(user, claims)
        user.save(update_fields=["first_name", "last_name", "email"])
        self.link(user, claims)
        return user

    @staticmethod
    def _copy_claims(user: User, claims: dict[str, Any]) -> None:
        linking.stash_identity(user, claims)  # into the session at login: the linking form checks it
        user.first_name = str(claims.get("given_name", ""))[:150]
        user.last_name = str(claims.get("preferred_username") or claims.get("family_name", ""))[:150]
        user.email = str(claims.get("email", ""))[:254]

    def link(self, user: User, claims: dict[str, Any]) -> None:
        """Link the file when the pivot designates exactly one holder; otherwise tell the linking page why."""
        if HolderLink.objects.filter(user=user).exists():
            return
        holders = matching_holders(claims)
        if len(holders) == 1:
            # Written to the holder's access log and mailed to the holder, as every link is.
            linking.link(getattr(self, "request", None), user, holders[0], LinkMethod.FRANCECONNECT)
            return
        reason = "none" if not holders else "several"
        logger.info("account %s: the identity pivot matches %s holder(s)", user.pk, reason)
        if getattr(self, "request", None) is not None:
            self.request.session[LINK_REASON] = reason


class CallbackView(OIDCAuthenticationCallbackView):
    """mozilla-django-oidc's callback, whose failure goes to our page (the library does not resolve names)."""

    @property
    def failure_url(self) -> str:
        return reverse("accounts:fc_failed")
