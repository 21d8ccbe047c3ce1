"""Reliable messaging between the services: unit of work, outbox, relay, idempotent consumers.

The path of one message::

    service ──uow.send()──▶ outbox row ─(commit)─▶ relay or the unit of work ──▶ Kafka ──▶ consumer
              same transaction as the                 (producer.py)               inbox ids + effect
              state change (unit_of_work.py)                                       + outbox rows, one
                                                                                   unit of work

* :class:`lotus.messaging.unit_of_work.UnitOfWork`: one transaction of one service; what it sends
  is written to the outbox with its state change, or not at all.
* :class:`lotus.messaging.relay.Relay` publishes committed rows in order and marks them sent
  once Kafka acknowledged them (:mod:`lotus.messaging.producer`); a unit of work that owns its
  transaction publishes its own rows right after the commit, the relay being the fallback.
* :class:`lotus.messaging.consumer.Consumer` applies each message at most once in effect: its
  id goes into the inbox (:mod:`lotus.messaging.inbox`) in the same transaction as the
  handler's writes, and the Kafka offset is stored only after that transaction.
* :class:`lotus.messaging.registry.Handlers` is a service's map of message type → handler.
"""
