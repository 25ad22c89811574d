from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "permis.registry"
    verbose_name = _("Fichier national des permis de conduire")
    default_auto_field = "django.db.models.BigAutoField"
