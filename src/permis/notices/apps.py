from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "permis.notices"
    verbose_name = _("Notifications et documents")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The check that PERMIS_PUBLIC_URL, printed in every document's verification link, is a public address.
        from permis.config import checks  # noqa: F401 (registers on import)
