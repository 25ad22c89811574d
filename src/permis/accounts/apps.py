from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "permis.accounts"
    verbose_name = _("Comptes")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from . import linking, sessions

        user_logged_in.connect(sessions.record, dispatch_uid="permis.accounts.record_session")
        user_logged_in.connect(linking.remember_identity, dispatch_uid="permis.accounts.remember_identity")
        user_logged_out.connect(sessions.forget, dispatch_uid="permis.accounts.forget_session")
