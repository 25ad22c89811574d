"""`permis worker [db_worker options]`: the background worker, with the daily run booked for 00:05 Paris time."""

from __future__ import annotations

from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from permis.notices import tasks as notices_tasks
from permis.registry.tasks import PARIS, ensure_scheduled


class Command(DBWorkerCommand):
    help = (
        "Run the background worker (django-tasks database backend). On start, makes sure the next daily run "
        "(every day at 00:05 Europe/Paris) and the next delivery of letters (every minute) are queued; never "
        "queues two. Options are db_worker's."
    )

    def handle(self, *args, **options) -> None:
        pending, created = ensure_scheduled()
        when = timezone.localtime(pending.run_after, PARIS).strftime("%Y-%m-%d %H:%M %Z")
        verb = "booked" if created else "already booked"
        self.stdout.write(f"daily run {verb} for {when}")
        # The letters' delivery runs every minute and books its next run itself (permis/notices/tasks.py).
        delivery, created = notices_tasks.ensure_scheduled()
        when = timezone.localtime(delivery.run_after, PARIS).strftime("%Y-%m-%d %H:%M:%S %Z")
        self.stdout.write(f"notice delivery {'booked' if created else 'already booked'} for {when}")
        super().handle(*args, **options)
