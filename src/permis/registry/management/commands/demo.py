"""`permis demo`: fill an empty file with a realistic population and the named demo holders."""

from __future__ import annotations

import itertools
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from permis.backoffice.demo import seed_agents
from permis.courses.demo import seed_courses
from permis.registry.demo import Population, named_people
from permis.registry.models import Licence, Projection, Status
from permis.registry.progress import Progress
from permis.registry.services import today
from permis.registry.services.population import load_people


class Command(BaseCommand):
    help = "Remplit un fichier vide avec une population réaliste et les titulaires de démonstration nommés."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--licences", type=int, default=2000, help="nombre de permis (8 nommés compris)")
        parser.add_argument(
            "--seed", type=int, default=0, help="graine du générateur (même graine, même population)"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="ne rien faire si le fichier contient déjà des permis"
        )
        parser.add_argument("--quiet", action="store_true", help="sans barre de progression")

    def handle(self, *args, licences: int, seed: int, if_empty: bool, quiet: bool, **options) -> None:
        if licences < 8:
            raise CommandError(
                "--licences: au moins 8 (les titulaires de démonstration nommés)", returncode=2
            )
        if Licence.objects.exists():
            if if_empty:
                self.stdout.write(
                    "Le fichier contient déjà des permis : données de démonstration non rechargées."
                )
                return
            raise CommandError(
                "le fichier contient déjà des permis : la démonstration se charge dans un fichier vide",
                returncode=2,
            )
        on = today()
        named = named_people(on)
        people = itertools.chain(named, itertools.islice(Population(on, seed), licences - len(named)))
        progress = Progress(licences, "demo", enabled=not quiet)
        started = time.perf_counter()
        # All or nothing: a load stopped half-way (Ctrl-C, a crash) leaves an empty file, which the next
        # `permis demo` (or `make run`'s `--if-empty`) loads again, never a half-loaded one it would skip.
        with transaction.atomic():
            summary = load_people(people, on, progress=progress)
            seeded = seed_courses(on, seed)
            agents = seed_agents()
        progress.close()
        elapsed = time.perf_counter() - started
        out = self.stdout.write
        out(
            f"{summary.people:,} permis, {summary.events:,} événements, {summary.movements:,} mouvements, "
            f"{summary.letters:,} lettres ({summary.deliveries:,} déjà envoyées) en {elapsed:.1f} s "
            f"({summary.people / elapsed:,.0f} permis/s)."
        )
        for problem in summary.skipped:
            out(f"  ignoré : {problem}")
        out("\nRépartition des soldes :")
        total = max(1, summary.people)
        for points in range(12, -1, -1):
            count = summary.balances.get(points, 0)
            out(f"  {points:>2} pts {'█' * round(50 * count / total):<50} {count / total:6.1%}")
        labels = dict(Status.choices)
        out(
            "Statuts : "
            + ", ".join(f"{str(labels.get(k, k)).lower()} {v:,}" for k, v in sorted(summary.statuses.items()))
        )
        # Course centres and their sessions (permis.courses), small and apart from the bulk path above.
        out(f"Stages : {seeded.centres} centres agréés, {seeded.sessions} sessions à venir.")
        # The back office's agents (permis.backoffice): a password only in development.
        out("\nAgents de l'espace de gestion (/gestion/) :")
        for agent in agents:
            where = f", départements {', '.join(agent.departements)}" if agent.departements else ""
            secret = f", mot de passe de développement {agent.password}" if agent.password else ""
            if agent.enrolment_code:
                secret += f", code d'activation {agent.enrolment_code}"
            out(f"  {agent.login} ({agent.role}{where}){secret}")
        if not settings.DEBUG:
            out(
                "  (sans mot de passe ni code d'activation hors développement : permis changepassword "
                "<identifiant>, puis permis agent enrolment-code <identifiant>)"
            )
        out(
            "  À la première connexion, chaque agent active la validation en deux étapes avec une application "
            "d'authentification (code QR ou clé affichés) et son code d'activation, à usage unique ; "
            "permis agent reset-2fa <identifiant> la remet à zéro et donne un nouveau code."
        )
        out("\nTitulaires de démonstration (identité FranceConnect, numéro de permis, numéro de dossier) :")
        for person in named:
            h, lic = person.holder, person.licence
            projection = Projection.objects.get(licence__number=lic["number"])
            out(
                f"  {h['given_names']} {h['birth_name']}, né(e) le {h['birth_date'].strftime('%d/%m/%Y')} : "
                f"permis {lic['number']}, dossier {lic['dossier_number']}, {projection.balance}/{projection.cap} "
                f"points, {projection.get_status_display().lower()}. {person.story}"
            )
