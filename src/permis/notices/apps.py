from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "permis.notices"
    verbose_name = _("Notifications et documents")
    default_auto_field = "django.db.models.BigAutoField"
