"""The site's settings with the portal benchmark's URLconf (bench/portal_urls.py); nothing else changes."""

from permis.config.settings import *  # noqa: F403

ROOT_URLCONF = "portal_urls"
