"""Lotus: an order saga across six Django services that talk only through Kafka.

The ``lotus`` package is the library the service apps stand on:

* :mod:`lotus.topology`  -- the services, their databases and the router that keeps them apart;
* :mod:`lotus.contracts` -- the typed messages (commands and events) the services exchange;
* :mod:`lotus.messaging` -- transactional outbox, relay to Kafka and idempotent consumers;
* :mod:`lotus.errors`    -- the one application error type and the DRF exception handler;
* :mod:`lotus.auth`      -- stateless JWT authentication shared by every service.
"""
