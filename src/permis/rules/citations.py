"""The legal basis cited for each kind of movement (RULES.md §1, §3-§9).

Kept in one place so that the engine, the explanation and the documents cite the same articles.
"""

from __future__ import annotations

INITIAL = "Code de la route, art. L223-1 et R223-1"
INITIAL_1992 = "Loi n° 89-469 du 10 juillet 1989 ; décret n° 92-559 du 25 juin 1992"
RAISE_1992 = "Décret n° 92-1228 du 23 novembre 1992 ; Code de la route, art. R223-1 I"
WITHDRAWAL = "Code de la route, art. L223-1 et L223-2"
WITHDRAWAL_SIMULTANEOUS = "Code de la route, art. L223-1, L223-2 III et R223-2"
WITHDRAWAL_DEROGATION = "Code de la route, art. L223-1 et L235-1"
WITHDRAWAL_CANCELLED = "Code de la route, art. L223-1 (réalité de l'infraction non établie : retrait annulé)"
ONE_POINT = "Code de la route, art. L223-6 al. 3"
ONE_POINT_2007 = "Loi n° 2007-297 du 5 mars 2007, art. 23 ; Code de la route, art. L223-6"
FULL_RESTORATION = "Code de la route, art. L223-6 al. 1 et 2"
FULL_RESTORATION_PROBATION = "Code de la route, art. L223-1 dernier al., L223-6 al. 1 et 2 et R223-1 IV"
TEN_YEAR = "Code de la route, art. L223-6 dernier al."
PROBATION_INCREMENT = "Code de la route, art. L223-1 et R223-1 III"
PROBATION_END = "Code de la route, art. R223-1"
COURSE_CREDIT = "Code de la route, art. L223-6 al. 4 et R223-8"
INVALIDATION = "Code de la route, art. L223-1, L223-5 et R223-3"
ANNULMENT = "Décision judiciaire d'annulation du permis (Code de la route, art. L234-13, L235-4 notamment)"
NEW_LICENCE = "Code de la route, art. L223-1 et R223-1 (nouveau permis probatoire)"
NEW_LICENCE_FULL = "Code de la route, art. L223-1 et R223-1"

# The English rendering of each citation, for the pages in English. The French text stays the reference: it is
# what the engine writes and the national file stores with each movement. The article numbers are the same.
_CODE = "Highway Code (Code de la route)"
ENGLISH: dict[str, str] = {
    INITIAL: f"{_CODE}, art. L223-1 and R223-1",
    INITIAL_1992: "Act No. 89-469 of 10 July 1989; Decree No. 92-559 of 25 June 1992",
    RAISE_1992: f"Decree No. 92-1228 of 23 November 1992; {_CODE}, art. R223-1 I",
    WITHDRAWAL: f"{_CODE}, art. L223-1 and L223-2",
    WITHDRAWAL_SIMULTANEOUS: f"{_CODE}, art. L223-1, L223-2 III and R223-2",
    WITHDRAWAL_DEROGATION: f"{_CODE}, art. L223-1 and L235-1",
    WITHDRAWAL_CANCELLED: f"{_CODE}, art. L223-1 (offence not established: withdrawal cancelled)",
    ONE_POINT: f"{_CODE}, art. L223-6 para. 3",
    ONE_POINT_2007: f"Act No. 2007-297 of 5 March 2007, art. 23; {_CODE}, art. L223-6",
    FULL_RESTORATION: f"{_CODE}, art. L223-6 paras. 1 and 2",
    FULL_RESTORATION_PROBATION: f"{_CODE}, art. L223-1 last para., L223-6 paras. 1 and 2 and R223-1 IV",
    TEN_YEAR: f"{_CODE}, art. L223-6 last para.",
    PROBATION_INCREMENT: f"{_CODE}, art. L223-1 and R223-1 III",
    PROBATION_END: f"{_CODE}, art. R223-1",
    COURSE_CREDIT: f"{_CODE}, art. L223-6 para. 4 and R223-8",
    INVALIDATION: f"{_CODE}, art. L223-1, L223-5 and R223-3",
    ANNULMENT: "Court decision annulling the licence (in particular art. L234-13 and L235-4 of the Highway Code, "
    "Code de la route)",
    NEW_LICENCE: f"{_CODE}, art. L223-1 and R223-1 (new probationary licence)",
    NEW_LICENCE_FULL: f"{_CODE}, art. L223-1 and R223-1",
}


def citation(text: str, lang: str = "fr") -> str:
    """A citation of this module (as a movement carries it, in French) in `lang`: "fr" gives it back as it is,
    "en" its English rendering. A text this module does not write (an older wording stored with a movement) is
    given back as it is."""
    if lang == "fr":
        return text
    return ENGLISH.get(text, text)
