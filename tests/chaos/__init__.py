"""The chaos suite of issue 12: the split stack under process, broker, database and network
faults while customers order, then invariants. Run it with ``make chaos`` (or the short size,
part of ``make test``) through ``scripts/chaos.sh``, which prepares its own PostgreSQL cluster
and Kafka broker."""
