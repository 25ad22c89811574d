"""The engine's notes: what it did not count, and why (a course that credits no points, a complementary training
without effect...), in French and in English.

The engine writes each note in French with ``note(key, **values)``: the French text is its output, as
``Evaluation.notes`` carries it. A page in English gets the note in English with ``note_text(text, "en")``, which
recognises the French text by its template and fills the English one with the same values.
"""

from __future__ import annotations

import re

# key -> (French, English). The values between braces are the same in both.
NOTES: dict[str, tuple[str, str]] = {
    "aac_regained": (
        "Permis obtenu de nouveau : la conduite accompagnée ne réduit pas la période probatoire (R211-5) ; "
        "période de 3 ans.",
        "Licence obtained again: accompanied driving does not shorten the probationary period (R211-5); "
        "3-year period.",
    ),
    "training_void": (
        "Formation complémentaire suivie, mais une infraction ou une suspension pendant la période réduite la "
        "prive d'effet (L223-1) : période probatoire normale.",
        "Complementary training taken, but an offence or a suspension during the shortened period cancels its "
        "effect (L223-1): normal probationary period.",
    ),
    "training_outside": (
        "Formation complémentaire suivie en dehors de la période du 6e au 12e mois après l'obtention du permis "
        "(R223-4-1) : sans effet sur la durée de la période probatoire.",
        "Complementary training taken outside the 6th to 12th month after the licence was obtained "
        "(R223-4-1): no effect on the length of the probationary period.",
    ),
    "course_judicial": (
        "Stage {course} : stage imposé par une décision judiciaire, il ne donne pas de points (R223-8) et ne "
        "compte pas dans la limite d'un stage par an.",
        "Course {course}: a course ordered by a court gives no points (R223-8) and does not count towards the "
        "limit of one course a year.",
    ),
    "course_licence_invalid": (
        "Stage {course} : le permis n'est plus valide, le stage ne donne pas de points.",
        "Course {course}: the licence is no longer valid, the course gives no points.",
    ),
    "course_too_soon": (
        "Stage {course} : moins de {years} an(s) après le précédent stage ayant donné des points ; aucun point "
        "(L223-6 al. 4). Un stage pourrait compter à partir du {allowed}.",
        "Course {course}: less than {years} year(s) after the previous course that gave points; no points "
        "(L223-6 para. 4). A course could count from {allowed}.",
    ),
    "course_at_cap": (
        "Stage {course} : le solde est déjà au plafond, le stage ne donne pas de points et ne compte pas dans "
        "la limite d'un stage par an.",
        "Course {course}: the balance is already at its maximum, the course gives no points and does not count "
        "towards the limit of one course a year.",
    ),
    "invalidation_without_effect": (
        "Lettre 48SI notifiée alors que le solde était positif : elle est sans effet, le permis reste valide.",
        "48SI letter notified while the balance was positive: it has no effect, the licence stays valid.",
    ),
}


def note(key: str, **values: object) -> str:
    """The note `key` in French, the engine's words, with its values."""
    return NOTES[key][0].format(**values)


def _pattern(template: str) -> re.Pattern[str]:
    """The French template as a regular expression, each value a named group."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
    )


_PATTERNS = [(_pattern(french), english) for french, english in NOTES.values()]


def note_text(text: str, lang: str = "fr") -> str:
    """A note of the engine (in French, as ``Evaluation.notes`` carries it) in `lang`; a text that is none of
    these notes is given back as it is."""
    if lang == "fr":
        return text
    for pattern, english in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is not None:
            return english.format(**match.groupdict())
    return text
