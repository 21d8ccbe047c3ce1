"""Events of the profiles service (topic ``profiles.events``)."""

from lotus.contracts.base import Event


class UserRegistered(Event, service="profiles"):
    key_field = "customer_id"

    customer_id: int
    email: str
