"""Safe client retries: the ``Idempotency-Key`` header on POST endpoints.

Decorate a view method with :func:`idempotent`; it opens the service's unit of work and hands
it to the view, which passes it to the services::

    class PlaceOrderApi(APIView):
        @idempotent(service="orders")
        def post(self, request, uow): ...

A request that carries ``Idempotency-Key: <key>`` runs once per (customer, key): the first
response (2xx) is stored in the same database transaction as the request's own writes and
outbox rows, and a retry with the same key gets that response back (header
``Idempotent-Replayed: true``) without changing anything again. The same key with a different
request is refused with 422. Concurrent retries wait for the first one and then replay it.
Failed requests (4xx) store nothing, so they may be retried with the same key. Keys are kept
for ``LOTUS_IDEMPOTENCY_TTL_HOURS`` (24 by default); an older key counts as new.
"""
