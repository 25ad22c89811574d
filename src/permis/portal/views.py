"""Public pages of the citizen portal."""

from __future__ import annotations

from django.forms.utils import ErrorDict, ErrorList
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from permis.config.access import public
from permis.portal.forms import MAX_ROWS
from permis.portal.simulation import Simulator

ADD_ACTIONS = {"add_offence": "offences", "add_course": "courses"}


@public
@require_http_methods(["GET", "HEAD", "POST"])
def simulator(request: HttpRequest) -> HttpResponse:
    """The balance simulator: a licence and its events in, the balance, its history and forecast out.

    Works without JavaScript: "add a row" is a submit button that sends the form back with one more row (200:
    not a submission, no error shown yet).
    """
    today = timezone.localdate()
    result = None
    new_row = None
    if request.method != "POST":  # GET, or HEAD (answered as GET)
        sim = Simulator.bind(None, today=today)
    elif (prefix := ADD_ACTIONS.get(request.POST.get("action", ""))) is not None:
        data = request.POST.copy()
        total_key = f"{prefix}-TOTAL_FORMS"
        try:
            total = int(data.get(total_key, "0"))
        except ValueError:
            total = 0
        if 0 <= total < MAX_ROWS:
            data[total_key] = str(total + 1)
            new_row = f"{prefix}-{total}"
        sim = Simulator.bind(data, today=today)
        _hide_errors(sim)  # the person has not finished typing: no red fields yet
        if new_row is not None:
            # Keyboard and screen-reader users land in the row they asked for.
            formset = sim.offences if prefix == "offences" else sim.courses
            first_field = next(iter(formset.forms[-1].fields.values()))
            first_field.widget.attrs["autofocus"] = True
    else:
        sim = Simulator.bind(request.POST, today=today)
        if sim.is_valid():
            result = sim.run()

    errors = sim.error_summary() if request.method == "POST" and new_row is None else []
    return render(
        request,
        "portal/simulator.html",
        {
            "sim": sim,
            "result": result,
            "errors": errors,
            "new_row": new_row,
            "max_rows": MAX_ROWS,
        },
        # What was typed is wrong (the form's checks or the engine's): 400, the page with its errors. The
        # engine's own failure is not the person's: 200, with its plain message (``_engine_failed``).
        status=400 if errors and not sim.engine_failed else 200,
    )


def _hide_errors(sim: Simulator) -> None:
    for form in [sim.licence, *sim.offences.forms, *sim.courses.forms]:
        form._errors = ErrorDict()
    for formset in (sim.offences, sim.courses):
        formset._errors = [ErrorDict() for _ in formset.forms]
        formset._non_form_errors = ErrorList()
