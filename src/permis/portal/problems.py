"""The engine's and the registry's refusals in the page's language.

The rules engine and the registry's services write their problems in English, "field: why", for the engine's
command-line users and the partners' API (ENGINE-IO.md, docs/api.md); so do the course services, the approval
of course centres included (``permis.courses``). A person reads them on a page: the holder's simulator, an
agent's form in the back office. ``in_words`` gives the usual ones in plain French (and in
English through the translation catalogue); anything else is shown as it was written, so that nothing is
hidden. tests/portal/test_problems.py makes each of these problems through the engine or the service that
writes it, so a change of wording there fails a test instead of falling back to English on the page.
"""

from __future__ import annotations

import re
from datetime import date

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from permis.portal.dates import long_date

_ISO = r"\d{4}-\d{2}-\d{2}"
_PROBLEMS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(rf"^{_ISO} is before the licence was obtained(?: \((?P<date>{_ISO})\))?"),
        gettext_noop("Cette date précède l’obtention du permis."),
    ),
    (
        re.compile(r"is before 1992-07-01, when the points system started"),
        gettext_noop("Cette date précède le 1er juillet 1992, début du permis à points."),
    ),
    (
        re.compile(r"^unknown NATINF '(?P<code>[^']*)'"),
        gettext_noop("Le code NATINF %(code)s n’est pas dans le barème du simulateur."),
    ),
    (
        re.compile(rf"^NATINF '(?P<code>[^']*)' carried no points before (?P<date>{_ISO})"),
        gettext_noop("Le code NATINF %(code)s ne retirait pas de points avant le %(date)s."),
    ),
    (
        re.compile(rf"^\d+ is more than a contravention can remove on {_ISO} \((?P<max>\d+)"),
        gettext_noop(
            "Une contravention ne peut pas retirer plus de %(max)s points à cette date (art. L223-2)."
        ),
    ),
    (
        re.compile(rf"^\d+ is more than a délit can remove on {_ISO} \((?P<max>\d+)"),
        gettext_noop("Un délit ne peut pas retirer plus de %(max)s points à cette date (art. L223-2)."),
    ),
    (
        re.compile(r"is before final_on"),
        gettext_noop(
            "La décision de retrait ne peut pas précéder la date à laquelle l’infraction est devenue définitive."
        ),
    ),
    (
        re.compile(r"is before committed_on"),
        gettext_noop("Cette date ne peut pas précéder la date de l’infraction."),
    ),
    (
        re.compile(r"is before first_day"),
        gettext_noop("Le dernier jour ne peut pas précéder le premier jour."),
    ),
    (
        re.compile(r"is out of range \((?P<low>\d+) to (?P<high>\d+)\)"),
        gettext_noop("Cette date est en dehors des années admises (%(low)s à %(high)s)."),
    ),
    # The values of an event as an agent corrects them in the back office (a value left empty reaches the engine
    # as None).
    (
        re.compile(r"^None (?:must be|is not) "),
        gettext_noop("Ce champ est obligatoire."),
    ),
    (
        re.compile(r"must be a whole number of km/h from 1 to 500"),
        gettext_noop("Une vitesse s’écrit en km/h, un nombre entier de 1 à 500."),
    ),
    (
        re.compile(r"km/h does not exceed the limit of (?P<limit>\d+) km/h"),
        gettext_noop(
            "La vitesse retenue ne dépasse pas la vitesse maximale autorisée (%(limit)s km/h) : "
            "ce n’est pas un excès de vitesse."
        ),
    ),
    (
        re.compile(r"must be a whole number from 0 to 12"),
        gettext_noop("Le nombre de points est un nombre entier de 0 à 12."),
    ),
    (
        re.compile(r" (?:is not|must be) one of (?P<choices>[^()]+)$"),
        gettext_noop("Cette valeur n’est pas admise ; les valeurs possibles : %(choices)s."),
    ),
    (
        re.compile(r"^given without points"),
        gettext_noop("Une classe ne s’indique qu’avec un nombre de points."),
    ),
    (
        re.compile(r"an offence needs points and class, or speeding, or natinf"),
        gettext_noop(
            "Une infraction a un nombre de points et une classe, ou une vitesse, ou un code NATINF."
        ),
    ),
    # The approval of course centres (permis.courses.approval), as the back office shows it to agents.
    (
        re.compile(
            r"^'(?P<code>[^']*)' is not the département of postcode (?P<postcode>\d{5}) \((?P<where>[^)]+)\)"
        ),
        gettext_noop("Le code postal %(postcode)s est dans le département %(where)s, pas dans le %(code)s."),
    ),
    (
        re.compile(r"^'(?P<number>[^']*)' is already held by (?P<name>.+)$"),
        gettext_noop("Le numéro d’agrément %(number)s est déjà celui du centre « %(name)s »."),
    ),
    (
        re.compile(rf"^{_ISO} is before the withdrawal of (?P<date>{_ISO})"),
        gettext_noop("Un nouvel agrément ne peut pas précéder le retrait du précédent (%(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is before the approval of (?P<date>{_ISO})"),
        gettext_noop("Le retrait ne peut pas précéder l’agrément (%(date)s)."),
    ),
    (
        re.compile(rf"approval already withdrawn on (?P<date>{_ISO})"),
        gettext_noop("L’agrément de ce centre est déjà retiré, à partir du %(date)s."),
    ),
    # The registry's own refusals (permis.registry.services, permis.notices.receipts), as the back office
    # shows them to agents.
    (
        re.compile(rf"^{_ISO} is before from (?P<date>{_ISO})"),
        gettext_noop("La fin ne peut pas précéder le début (%(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is before the annulment \((?P<date>{_ISO})\)"),
        gettext_noop("La fin de l’interdiction ne peut pas précéder l’annulation (%(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is not after the first licence \((?P<date>{_ISO})\)"),
        gettext_noop("Le nouveau permis doit avoir été obtenu après le premier (%(date)s)."),
    ),
    # The law's preconditions of a surrender and of a new licence (L223-5), as the engine checks them.
    (
        re.compile(r"^the licence is neither invalidated \(48SI notified\) nor annulled on "),
        gettext_noop(
            "À cette date, le permis n’est ni invalidé (lettre 48SI notifiée) ni annulé : seul un permis "
            "invalidé ou annulé est remis en préfecture (art. L223-5)."
        ),
    ),
    (
        re.compile(r"^the licence is neither invalidated \(48SI notified\) nor annulled before "),
        gettext_noop(
            "Le permis n’a été ni invalidé (lettre 48SI notifiée) ni annulé avant cette date : un nouveau "
            "permis ne s’enregistre qu’après une invalidation ou une annulation (art. L223-5)."
        ),
    ),
    (
        re.compile(rf"^{_ISO} is before any surrender of the licence invalidated on (?P<date>{_ISO})"),
        gettext_noop(
            "Le permis invalidé le %(date)s n’a pas été remis en préfecture : enregistrez d’abord sa remise, "
            "le délai d’attente court à partir d’elle (art. L223-5 II)."
        ),
    ),
    (
        re.compile(rf"^{_ISO} is before (?P<date>{_ISO}), the end of the waiting period"),
        gettext_noop(
            "Pas de nouveau permis avant le %(date)s : le délai d’attente après la remise du permis invalidé "
            "n’est pas écoulé (6 mois, ou 1 an après une deuxième perte de tous les points en 5 ans ; "
            "art. L223-5 II)."
        ),
    ),
    (
        re.compile(rf"^{_ISO} is before (?P<date>{_ISO}), the end of the ban on a new licence"),
        gettext_noop("Le jugement d’annulation interdit de solliciter un nouveau permis avant le %(date)s."),
    ),
    (
        re.compile(rf"^a new licence obtained on (?P<date>{_ISO}) is already recorded"),
        gettext_noop("Un nouveau permis obtenu le %(date)s est déjà enregistré."),
    ),
    (
        re.compile(rf"^{_ISO} is before the new licence obtained on (?P<date>{_ISO})"),
        gettext_noop(
            "Un nouveau permis obtenu le %(date)s est déjà enregistré : celui-ci ne peut pas le précéder."
        ),
    ),
    (
        re.compile(rf"^the licence is already surrendered on (?P<date>{_ISO})"),
        gettext_noop("La remise du permis est déjà enregistrée (le %(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is not after obtained_on (?P<date>{_ISO})"),
        gettext_noop("La fin de validité doit suivre la date d’obtention (%(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is before the letter was sent \((?P<date>{_ISO})\)"),
        gettext_noop("Cette date précède l’envoi de la lettre (%(date)s)."),
    ),
    (
        re.compile(rf"^{_ISO} is in the future"),
        gettext_noop("Cette date est dans le futur."),
    ),
    (
        re.compile(r"^the letter has not been sent yet"),
        gettext_noop("La lettre n’est pas encore partie : elle ne peut pas avoir été reçue."),
    ),
    (
        re.compile(rf"^a receipt is already recorded \(\w+ on (?P<date>{_ISO})"),
        gettext_noop(
            "Un avis de réception est déjà enregistré (%(date)s) et celui-ci le contredit : "
            "passez par une demande de correction."
        ),
    ),
    (
        re.compile(r"^a postal receipt is for a registered letter"),
        gettext_noop("Un avis de réception ne concerne qu’une lettre recommandée."),
    ),
    (
        re.compile(r"^'[^']*' is already registered"),
        gettext_noop("Ce numéro est déjà enregistré dans le fichier national."),
    ),
    (
        re.compile(r"must be 5 to 19 capital letters or digits"),
        gettext_noop("Le numéro s’écrit avec 5 à 19 lettres majuscules ou chiffres."),
    ),
    (
        re.compile(r"^at most (?P<max>\d+) characters"),
        gettext_noop("%(max)s caractères au plus."),
    ),
    (
        re.compile(r"^missing \(a date YYYY-MM-DD is required\)"),
        gettext_noop("Indiquez une date."),
    ),
    (
        re.compile(r"is not (?:a valid date|a date)"),
        gettext_noop("Ce n’est pas une date valide (JJ/MM/AAAA)."),
    ),
    (
        re.compile(r"^the history of licence (?P<number>\S+) ends at .*\(permis verify"),
        gettext_noop(
            "Le dossier du permis %(number)s a été modifié en dehors du fichier national : rien n’y est "
            "enregistré tant qu’il n’a pas été vérifié. Rien n’a été enregistré ; prévenez l’administrateur "
            "du fichier (commande permis verify)."
        ),
    ),
]


def in_words(problem: str) -> str:
    """One of the engine's or the registry's problems (the "why" after "field: ") in the page's language."""
    for pattern, message in _PROBLEMS:
        match = pattern.search(problem)
        if match is None:
            continue
        values = {
            key: long_date(date.fromisoformat(value)) if key == "date" else value
            for key, value in match.groupdict().items()
            if value is not None
        }
        return _(message) % values if values else _(message)
    return problem
