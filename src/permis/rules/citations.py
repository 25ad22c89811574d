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
