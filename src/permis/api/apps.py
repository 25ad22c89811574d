from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "permis.api"
    label = "api"
    verbose_name = "API des partenaires"
    default_auto_field = "django.db.models.BigAutoField"
