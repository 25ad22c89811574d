from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "permis.backoffice"
    label = "backoffice"
    verbose_name = _("Espace de gestion")
    default_auto_field = "django.db.models.BigAutoField"
