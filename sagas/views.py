"""The admin's saga pages: one saga's trail, the stuck sagas, and the operator's three actions.

Every view runs inside the admin site (``admin.site.admin_view``: staff only, and a write the
database refuses becomes the admin's read-only message). The pages only read
(:mod:`sagas.selectors`). An action never edits a row: it calls the owning service's own
function in that service's unit of work, as the service's API would: cancelling an order
(``orders.services.order_cancel``, the operator's username in the order's history), accepting
a manual delivery (``delivery.services.delivery_accept``, as ``/delivery/accept``) and replaying
a dead letter (``lotus.messaging.dead_letters.replay``). Each asks for a confirmation first
(GET), acts on POST (CSRF-checked), shows its result as an admin message and is recorded in the
order's admin history (``LogEntry``: who did what, when) next to the saga's own history.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from delivery import services as delivery_services
from lotus.admin_site import READ_ONLY_MESSAGE, refused_as_read_only
from lotus.bootstrap import handlers_for
from lotus.conf import lotus_settings
from lotus.errors import LotusError
from lotus.messaging.dead_letters import replay
from lotus.messaging.models import DeadLetter
from lotus.messaging.unit_of_work import UnitOfWork
from lotus.topology import SERVICES, alias_for
from orders import services as order_services
from orders.models import Order
from sagas import selectors


def _context(request: HttpRequest, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


def saga_url(order_id: uuid.UUID | str) -> str:
    return reverse("sagas:saga", args=[order_id])


def search(request: HttpRequest) -> HttpResponse:
    """``?q=<order id>``: that order's saga page; anything else: the search form again, with why."""
    query = request.GET.get("q", "").strip()
    if query:
        try:
            order_id = uuid.UUID(query)
        except ValueError:
            messages.error(request, f"{query[:80]!r} is not an order id (a UUID such as 0c1d…-…).")
        else:
            return HttpResponseRedirect(saga_url(order_id))
    return render(request, "admin/sagas/search.html", _context(request, "Find a saga", query=query))


def saga(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    trail = selectors.saga_trail(order_id=order_id)
    if trail is None:
        messages.error(request, f"Orders does not know an order {order_id}.")
        return render(request, "admin/sagas/search.html", _context(request, "Find a saga", query=str(order_id)))
    title = f"Saga of order {trail.order.id}"
    return render(request, "admin/sagas/saga.html", _context(request, title, trail=trail))


def stuck(request: HttpRequest) -> HttpResponse:
    seconds = lotus_settings.ADMIN["STUCK_AFTER_SECONDS"]
    groups = selectors.stuck_sagas(older_than=seconds)
    return render(
        request,
        "admin/sagas/stuck.html",
        _context(request, "Stuck sagas", groups=groups, threshold=seconds, total=sum(g.count for g in groups)),
    )


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    def act() -> str:
        reason = f"cancelled by the operator {request.user.get_username()}"
        with UnitOfWork("orders") as uow:
            order = order_services.order_cancel(uow=uow, order_id=order_id, customer_id=None, reason=reason)
        return f"Order {order.id} is {order.status}: its compensations are asked for ({reason})."

    return _action(
        request, order_id, act, what=f"Cancel order {order_id}?",
        explain="Orders cancels it as a customer's cancel would and asks billing, stock and delivery to undo what "
        "they did. Your username goes into the order's history.",
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
def accept_delivery(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    def act() -> str:
        with UnitOfWork("delivery") as uow:
            delivery = delivery_services.delivery_accept(uow=uow, order_id=order_id)
        return (
            f"Delivery accepted by {request.user.get_username()}: courier {delivery.courier_id} "
            f"at {delivery.slot:%Y-%m-%d %H:%M} UTC."
        )

    return _action(
        request, order_id, act, what=f"Accept the delivery of order {order_id}?",
        explain="Delivery books a courier slot now, as PUT /delivery/accept does; the order then completes.",
    )  # fmt: skip


@require_http_methods(["GET", "POST"])
def replay_dead_letter(request: HttpRequest, order_id: uuid.UUID, service: str, letter_id: int) -> HttpResponse:
    if service not in SERVICES:
        messages.error(request, f"There is no service {service[:40]!r}.")
        return HttpResponseRedirect(saga_url(order_id))
    letter = DeadLetter.objects.using(alias_for(service)).filter(pk=letter_id).first()
    if letter is None or letter.replayed_at is not None:
        messages.error(request, f"{service} has no dead letter #{letter_id} waiting to be replayed.")
        return HttpResponseRedirect(saga_url(order_id))

    def act() -> str:
        outcome = replay(letter, service=service, handlers=handlers_for(service))
        return f"Dead letter #{letter.id} of {service} ({letter.message_type}) replayed: {outcome.value}."

    return _action(
        request, order_id, act, what=f"Replay {service}'s dead letter #{letter.id} ({letter.message_type})?",
        explain=f"{service} applies the message once more, now, with its handler; the error was: {letter.error[:300]}",
    )  # fmt: skip


def _action(request: HttpRequest, order_id: uuid.UUID, act, *, what: str, explain: str) -> HttpResponse:
    """GET: the confirmation page; POST: ``act()`` and back to the saga page with its result."""
    if request.method != "POST":
        return render(
            request,
            "admin/sagas/confirm.html",
            _context(request, what, explain=explain, order_id=order_id, back=saga_url(order_id)),
        )
    try:
        result = act()
        _record(request, order_id, result)
        messages.success(request, result)
    except LotusError as exc:
        messages.error(request, exc.message)
    except DatabaseError as exc:
        if not refused_as_read_only(exc):
            raise
        messages.error(request, READ_ONLY_MESSAGE)
    except Exception as exc:  # noqa: BLE001 -- a handler's failure is shown to the operator; the letter stays
        messages.error(request, f"It failed: {type(exc).__name__}: {exc}")
    return HttpResponseRedirect(saga_url(order_id))


def _record(request: HttpRequest, order_id: uuid.UUID, what: str) -> None:
    """Note an operator's action in the order's admin history (its "History" page)."""
    order = Order.objects.filter(id=order_id).first()
    if order is not None:
        LogEntry.objects.log_actions(
            user_id=request.user.pk, queryset=[order], action_flag=CHANGE, change_message=what, single_object=True
        )
