"""The link between a person's account (Django's user) and the holder's file in the national file.

An account sees exactly one holder's file, the one it is linked to, and nothing else. The link is made either
automatically, when FranceConnect's identity pivot matches exactly one holder, or by the holder typing the
numbers printed on the licence (``method``). A link is never moved to another holder: unlinking deletes it and
a new one is made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from permis.registry.models import Holder


class LinkMethod(models.TextChoices):
    FRANCECONNECT = "franceconnect", _("FranceConnect (identité vérifiée)")
    LICENCE_FORM = "licence_form", _("Numéros du permis saisis par le titulaire")


class HolderLink(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="holder_link"
    )
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="account_links")
    method = models.CharField(_("rattachement"), max_length=16, choices=LinkMethod.choices)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("rattachement d'un compte à un permis")

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.holder_id} ({self.method})"
