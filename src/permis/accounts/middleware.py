"""Sessions end after a period without requests (settings.SESSION_COOKIE_AGE, PERMIS_SESSION_IDLE_MINUTES).

Instead of saving the session at every request (SESSION_SAVE_EVERY_REQUEST, a database write per page), a
signed-in session is touched at most once a minute: saving it pushes its expiry SESSION_COOKIE_AGE further,
in the database and in the cookie. So the idle limit holds to the minute for the price of one write a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

TOUCH_EVERY = 60  # seconds
SEEN = "permis_seen"


class SessionActivityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if (
            session is not None
            and request.COOKIES.get(settings.SESSION_COOKIE_NAME) is not None
            and SESSION_KEY in session
        ):
            now = int(time.time())
            if now - int(session.get(SEEN, 0)) >= TOUCH_EVERY:
                session[SEEN] = now
        return self.get_response(request)
