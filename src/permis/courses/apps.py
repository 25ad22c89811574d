from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoursesConfig(AppConfig):
    name = "permis.courses"
    verbose_name = _("Stages de sensibilisation à la sécurité routière")
    default_auto_field = "django.db.models.BigAutoField"
