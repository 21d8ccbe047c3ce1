"""The operator's view of whole sagas, across every service's database (the admin's saga pages).

Each service app sees only its own tables; answering "what happened to order X, and why is it
stuck?" needs all of them at once: the order and its history (orders), the outbox and inbox rows
of every service that the saga's messages left and reached, the charge, reservation and delivery
request it made, the notifications it sent, and any dead letter. This app only *reads* them
(:mod:`sagas.selectors`); what an operator does from its pages goes through the services' own
functions (:mod:`sagas.views`). Nothing imports it but the URL configuration (an import-linter
contract), so the services stay independent of one another.
"""
