from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "permis.audit"
    verbose_name = _("Journal des consultations et codes de partage")
    default_auto_field = "django.db.models.BigAutoField"
