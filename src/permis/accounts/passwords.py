"""A password must not contain what anyone who knows the person can guess first: the e-mail address's local part,
the person's names (settings ``AUTH_PASSWORD_VALIDATORS``, docs/accounts.md "Local accounts").

Django's ``UserAttributeSimilarityValidator`` compares the whole password with each attribute and refuses only a
close match: ``hugo.dubois2026`` for ``hugo.dubois@…`` passes it. This one looks for each name *inside* the
password, after folding both the same way (accents and case do not count, separators and other signs are
ignored), so ``Hugo-Dubois 2026``, ``DUBOIS.hugo!!`` and ``eloise`` for Éloïse are refused alike.

The names are the user's (``first_name``, ``last_name``) and, for a holders' account already linked to a file,
the holder's (birth name, used name, given names): a password reset knows them, a sign-up does not yet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Runs of letters or of digits: "hugo.dubois2026" gives hugo, dubois, 2026.
_RUN = re.compile(r"[^\W\d_]+|\d+")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> str:
    """Without accents, case, separators or signs: "Jean-Pierre O’Hara" gives "jeanpierreohara"."""
    return "".join(c for c in _plain(text) if c.isalnum())


def words(texts: Iterable[str], min_length: int) -> set[str]:
    """What a password must not contain, from each text: the whole text folded, and each of its runs of letters
    or digits, those of at least ``min_length`` characters (a two-letter particle would refuse too much)."""
    found: set[str] = set()
    for text in texts:
        found.add(fold(text))
        found.update(_RUN.findall(_plain(text)))
    return {word for word in found if len(word) >= min_length}


class PersonalDataValidator:
    """Refuses a password containing the e-mail address's local part (or one of its words), or a name."""

    def __init__(self, min_length: int = 3) -> None:
        self.min_length = min_length

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        folded = fold(password)
        if any(word in folded for word in words([_local_part(user)], self.min_length)):
            raise ValidationError(
                _(
                    "Ce mot de passe contient une partie de votre adresse électronique (ce qui précède « @ ») : "
                    "choisissez-en un qui ne la contienne pas, même écrite autrement (majuscules, accents, "
                    "points ou tirets)."
                ),
                code="password_contains_email",
            )
        if any(word in folded for word in words(_names(user), self.min_length)):
            raise ValidationError(
                _(
                    "Ce mot de passe contient votre nom ou l’un de vos prénoms : choisissez-en un qui n’en "
                    "contienne aucun, même écrit autrement (majuscules, accents, points ou tirets)."
                ),
                code="password_contains_name",
            )

    def get_help_text(self) -> str:
        return _(
            "Votre mot de passe ne doit contenir ni votre nom, ni vos prénoms, ni votre adresse électronique."
        )


def _local_part(user: Any) -> str:
    address = getattr(user, "email", "") or ""
    if "@" not in address:
        username = str(user.get_username() if hasattr(user, "get_username") else "")
        address = username if "@" in username else ""
    return address.rpartition("@")[0]


def _names(user: Any) -> list[str]:
    names = [getattr(user, "first_name", "") or "", getattr(user, "last_name", "") or ""]
    if getattr(user, "pk", None) is None:
        return names  # a sign-up: no file is linked yet
    # Imported here: Django's auth forms load the validators, and they may be imported before the models are.
    from .models import HolderLink

    for link in HolderLink.objects.filter(user_id=user.pk).select_related("holder"):
        names += [link.holder.birth_name, link.holder.used_name, link.holder.given_names]
    return names
