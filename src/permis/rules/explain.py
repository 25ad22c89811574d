"""An evaluation in plain words, citing the article behind every number (French, with an English version: the
barème's labels, the citations and the notes in English too)."""

from __future__ import annotations

import datetime as dt

from permis.rules.bareme import offence_label
from permis.rules.citations import citation
from permis.rules.model import Course, Evaluation, History, Movement, Offence
from permis.rules.notes import note_text

_TEXT = {
    "fr": {
        "title": "Situation du permis au {on}",
        "balance": "Solde : {balance} point(s) sur {cap}.",
        "raw": "Solde signé : {raw} (le solde affiché ne descend pas sous 0).",
        "status": "Statut : {status}.",
        "valid": "valide",
        "zero_balance": "solde nul, le permis reste valide tant que la lettre 48SI n'est pas notifiée",
        "invalidated": "invalide (lettre 48SI notifiée)",
        "annulled": "annulé par décision judiciaire",
        "suspended": "Le droit de conduire est suspendu à cette date (sans effet sur les points).",
        "probation": "Période probatoire du {start} au {end}.",
        "increments_open": "Les majorations annuelles restent possibles si aucune infraction n'est commise.",
        "increments_closed": "Les majorations annuelles ne sont plus possibles : une infraction a été commise "
        "pendant la période probatoire.",
        "movements": "Mouvements :",
        "upcoming": "À venir si aucune nouvelle infraction n'est commise :",
        "no_upcoming": "Aucun changement prévu.",
        "letters": "Lettres :",
        "no_letters": "Aucune lettre.",
        "course_from": "Un stage de sensibilisation pourrait donner des points à partir du {day}.",
        "course_none": "Aucun stage ne peut donner de points à cette date.",
        "unless": "sauf {condition}",
        "surrender": "Le permis doit être remis à la préfecture au plus tard le {day}.",
        "new_licence_from": "Un nouveau permis peut être obtenu à partir du {day}.",
        "notes": "Remarques :",
        "line": "- {on} : {label}, {change} → {balance} point(s) ({basis}){extra}.",
        "points": "{sign}{value} point(s)",
        "unchanged": "solde inchangé",
        "offence": "infraction {id}{details}",
        "committed": "commise le {committed}, définitive le {final}",
        "course": "stage {id} du {first} au {last}",
        "commit_before": "une infraction commise avant le {day}",
        "commit_or_final": "une infraction commise avant le {end} ou devenue définitive avant le {due}",
        "invalidated_first": "une invalidation ou une annulation du permis avant cette date",
        "cancelled": "l'annulation de l'infraction",
        "kinds": {
            "initial": "capital initial",
            "withdrawal": "retrait de points",
            "withdrawal_cancelled": "retrait annulé",
            "one_point_restoration": "restitution d'un point",
            "full_restoration": "reconstitution du capital",
            "ten_year_restoration": "restitution au bout de dix ans",
            "probation_increment": "majoration annuelle du permis probatoire",
            "probation_end": "fin de la période probatoire, plafond porté à {cap} points",
            "course_credit": "stage de sensibilisation",
            "invalidation": "invalidation du permis (lettre 48SI notifiée)",
            "annulment": "annulation judiciaire du permis",
            "new_licence": "nouveau permis",
        },
        "letter_codes": {
            "48": "retrait de points",
            "48M": "retrait de points, solde de 6 points ou moins (lettre recommandée)",
            "48N": "retrait de 3 points ou plus en période probatoire : stage obligatoire dans les 4 mois de la "
            "réception (lettre recommandée avec accusé de réception)",
            "48SI": "solde nul : invalidation du permis, à remettre à la préfecture (lettre recommandée avec "
            "accusé de réception)",
            "46": "restitution de points",
            "47": "points ajoutés après un stage",
        },
        "letter_line": "- {code} du {on}{cause} : {text}.",
        "letter_cause": " ({cause})",
    },
    "en": {
        "title": "Licence on {on}",
        "balance": "Balance: {balance} point(s) out of {cap}.",
        "raw": "Signed balance: {raw} (the displayed balance never goes below 0).",
        "status": "Status: {status}.",
        "valid": "valid",
        "zero_balance": "zero balance, the licence stays valid until the 48SI letter is notified",
        "invalidated": "invalid (48SI letter notified)",
        "annulled": "annulled by a court",
        "suspended": "The right to drive is suspended on this date (no effect on points).",
        "probation": "Probation from {start} to {end}.",
        "increments_open": "The yearly increments remain possible if no offence is committed.",
        "increments_closed": "The yearly increments are no longer possible: an offence was committed during "
        "probation.",
        "movements": "Movements:",
        "upcoming": "Due if no new offence is committed:",
        "no_upcoming": "No change due.",
        "letters": "Letters:",
        "no_letters": "No letter.",
        "course_from": "An awareness course could credit points from {day}.",
        "course_none": "No course can credit points on this date.",
        "unless": "unless {condition}",
        "surrender": "The licence must be surrendered to the préfecture by {day}.",
        "new_licence_from": "A new licence may be obtained from {day}.",
        "notes": "Notes:",
        "line": "- {on}: {label}, {change} → {balance} point(s) ({basis}){extra}.",
        "points": "{sign}{value} point(s)",
        "unchanged": "balance unchanged",
        "offence": "offence {id}{details}",
        "committed": "committed on {committed}, final on {final}",
        "course": "course {id} from {first} to {last}",
        "commit_before": "an offence committed before {day}",
        "commit_or_final": "an offence committed before {end} or becoming final before {due}",
        "invalidated_first": "an invalidation or annulment of the licence first",
        "cancelled": "the offence being cancelled",
        "kinds": {
            "initial": "initial capital",
            "withdrawal": "points withdrawn",
            "withdrawal_cancelled": "withdrawal cancelled",
            "one_point_restoration": "one point restored",
            "full_restoration": "full restoration",
            "ten_year_restoration": "ten-year restoration",
            "probation_increment": "yearly probation increment",
            "probation_end": "end of probation, cap raised to {cap} points",
            "course_credit": "awareness course",
            "invalidation": "licence invalidated (48SI letter notified)",
            "annulment": "licence annulled by a court",
            "new_licence": "new licence",
        },
        "letter_codes": {
            "48": "points withdrawn",
            "48M": "points withdrawn, balance of 6 or less (registered letter)",
            "48N": "3 or more points withdrawn during probation: mandatory course within 4 months of receipt "
            "(registered letter with acknowledgement)",
            "48SI": "zero balance: licence invalidated, to be surrendered to the préfecture (registered letter "
            "with acknowledgement)",
            "46": "points restored",
            "47": "points credited after a course",
        },
        "letter_line": "- {code} of {on}{cause}: {text}.",
        "letter_cause": " ({cause})",
    },
}


def _day(value: dt.date, lang: str) -> str:
    return value.strftime("%d/%m/%Y") if lang == "fr" else value.isoformat()


def condition_text(movement: Movement, lang: str = "fr") -> str | None:
    """What would cancel an upcoming change, in plain words."""
    condition = movement.condition
    if condition is None:
        return None
    t = _TEXT[lang]
    code = condition[0]
    if code == "commit_before":
        return t["commit_before"].format(day=_day(condition[1], lang))
    if code == "commit_or_final":
        return t["commit_or_final"].format(end=_day(condition[1], lang), due=_day(condition[2], lang))
    return t[code]


def movement_label(movement: Movement, history: History | None = None, lang: str = "fr") -> str:
    """The movement's reason in plain words, with the offence or course it comes from."""
    t = _TEXT[lang]
    label = t["kinds"][movement.kind].format(cap=movement.cap)
    if movement.cause is None or history is None:
        return label if movement.cause is None else f"{label} ({movement.cause})"
    source = next((e for e in history.events if e.id == movement.cause), None)
    if isinstance(source, Offence):
        details = t["committed"].format(
            committed=_day(source.committed_on, lang), final=_day(source.final_on, lang)
        )
        offence = offence_label(source, lang)
        what = (f" : {offence}" if lang == "fr" else f": {offence}") if offence else ""
        return f"{label}, {t['offence'].format(id=source.id, details=what)}, {details}"
    if isinstance(source, Course):
        return f"{label}, " + t["course"].format(
            id=source.id, first=_day(source.first_day, lang), last=_day(source.last_day, lang)
        )
    return f"{label} ({movement.cause})"


def _line(movement: Movement, history: History | None, lang: str, upcoming: bool) -> str:
    t = _TEXT[lang]
    if movement.change:
        change = t["points"].format(sign="+" if movement.change > 0 else "", value=movement.change)
    else:
        change = t["unchanged"]
    extra = ""
    if upcoming:
        condition = condition_text(movement, lang)
        if condition:
            extra = ", " + t["unless"].format(condition=condition)
    return t["line"].format(
        on=_day(movement.on, lang),
        label=movement_label(movement, history, lang),
        change=change,
        balance=movement.balance,
        basis=citation(movement.basis, lang),
        extra=extra,
    )


def explain(evaluation: Evaluation, history: History | None = None, lang: str = "fr") -> str:
    """The evaluation as text a person can read, each figure with the article it comes from."""
    t = _TEXT[lang]
    e = evaluation
    lines = [t["title"].format(on=_day(e.on, lang)), ""]
    lines.append(t["balance"].format(balance=e.balance, cap=e.cap))
    if e.raw_balance < 0:
        lines.append(t["raw"].format(raw=e.raw_balance))
    lines.append(t["status"].format(status=t[e.status]))
    if e.suspended:
        lines.append(t["suspended"])
    if e.probation is not None:
        lines.append(
            t["probation"].format(start=_day(e.probation.start, lang), end=_day(e.probation.end, lang))
        )
        lines.append(t["increments_open"] if e.probation.increments_open else t["increments_closed"])
    if e.surrender_due_by is not None and e.new_licence_from is None:
        lines.append(t["surrender"].format(day=_day(e.surrender_due_by, lang)))
    if e.new_licence_from is not None:
        lines.append(t["new_licence_from"].format(day=_day(e.new_licence_from, lang)))
    lines += ["", t["movements"]]
    lines += [_line(m, history, lang, upcoming=False) for m in e.movements]
    lines += ["", t["upcoming"]]
    lines += [_line(m, history, lang, upcoming=True) for m in e.upcoming] or [t["no_upcoming"]]
    lines += ["", t["letters"]]
    for letter in e.letters:
        cause = t["letter_cause"].format(cause=letter.cause) if letter.cause else ""
        lines.append(
            t["letter_line"].format(
                code=letter.code, on=_day(letter.on, lang), cause=cause, text=t["letter_codes"][letter.code]
            )
        )
    if not e.letters:
        lines.append(t["no_letters"])
    lines.append("")
    if e.next_creditable_course_from is not None:
        lines.append(t["course_from"].format(day=_day(e.next_creditable_course_from, lang)))
    else:
        lines.append(t["course_none"])
    if e.notes:
        lines += ["", t["notes"]] + [f"- {note_text(note, lang)}" for note in e.notes]
    return "\n".join(lines) + "\n"
