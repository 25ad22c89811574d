"""`permis fcdev`: the OpenID Connect provider that plays FranceConnect on loopback (development only)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from permis.accounts.fcdev import FcDevServer, Identity
from permis.accounts.identities import demo_identities, ensure_demo_homonyms


class Command(BaseCommand):
    help = (
        "Fournisseur OpenID Connect de développement qui joue FranceConnect avec les identités de "
        "démonstration, sur l'adresse de bouclage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="adresse de bouclage (127.0.0.1, ::1, localhost)"
        )
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--algorithm", choices=["RS256", "ES256"], default="RS256", help="signature des jetons"
        )
        parser.add_argument(
            "--key-file",
            default="",
            help="clé privée PEM (créée si absente) ; par défaut var/fcdev-<algorithme>.pem",
        )
        parser.add_argument(
            "--no-homonyms",
            action="store_true",
            help="ne pas inscrire les deux homonymes de démonstration (identité qui désigne deux titulaires)",
        )
        parser.add_argument("--verbose", action="store_true", help="journal de chaque requête")

    def handle(
        self,
        *args,
        host: str,
        port: int,
        algorithm: str,
        key_file: str,
        no_homonyms: bool,
        verbose: bool,
        **options,
    ) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "permis fcdev sert au développement seulement (PERMIS_DEBUG=true)", returncode=2
            )
        if not no_homonyms and ensure_demo_homonyms():
            self.stdout.write(
                "Deux homonymes de démonstration inscrits (HOMONYME Dominique, permis DEMOHOMONYM1/2)."
            )
        key = Path(key_file) if key_file else settings.VAR_DIR / f"fcdev-{algorithm.lower()}.pem"

        def identities() -> list[Identity]:
            close_old_connections()
            try:
                return demo_identities()
            finally:
                close_old_connections()

        client_id, secret = settings.FRANCECONNECT["CLIENT_ID"], settings.FRANCECONNECT["CLIENT_SECRET"]
        try:
            server = FcDevServer(
                identities,
                host=host,
                port=port,
                clients={client_id: secret},
                algorithm=algorithm,
                key_file=key,
                verbose=verbose,
            )
        except (ValueError, OSError) as error:
            raise CommandError(f"--host {host} --port {port}: {error}", returncode=2) from error
        count = len(identities())
        self.stdout.write(
            f"FranceConnect de développement sur {server.url} (client {client_id}, jetons {algorithm}, clé {key}) : "
            f"{count} identités. Ctrl-C pour arrêter."
        )
        try:
            server.serve()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
