"""Reliable messaging between the services: outbox, relay, idempotent consumers.

The path of one message::

    service code ──publish()──▶ outbox row ─(commit)─▶ relay ──▶ Kafka ──▶ consumer
                                  same transaction as         inbox row + handler effect
                                  the state change            + outbox rows, one transaction

* :func:`lotus.messaging.outbox.publish` writes a message into the caller's transaction;
  nothing is sent if that transaction rolls back.
* :class:`lotus.messaging.relay.Relay` publishes committed rows in order, with an
  idempotent producer, and marks them sent once Kafka acknowledged them.
* :class:`lotus.messaging.consumer.Consumer` applies each message at most once in effect:
  the message id goes into the inbox in the same transaction as the handler's writes, and
  the Kafka offset is committed only after that transaction.
* :class:`lotus.messaging.registry.Handlers` is a service's map of message type → handler.
"""
