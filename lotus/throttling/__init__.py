"""Rate limits of the endpoints an attacker or a runaway client would hammer (DRF throttles).

A view lists its throttles (:mod:`lotus.throttling.throttles`), each a small subclass naming
the service whose database counts and the scope whose rate it reads::

    class LoginAccountThrottle(EmailThrottle):
        service, scope = "profiles", "login_account"   # rate: THROTTLE["LOGIN_ACCOUNT"]

    class LoginApi(APIView):
        throttle_classes = [LoginAddressThrottle, LoginAccountThrottle]

Rates are DRF rate strings read at each request from ``lotus_settings.THROTTLE``
(``LOTUS_THROTTLE_*``; empty: no limit, and nothing is counted). Over the rate the client gets
429 with ``Retry-After`` and the usual JSON error body (:func:`lotus.errors.exception_handler`).

The counters (:mod:`lotus.throttling.counters`) are rows of the service's own database, counted
per fixed window in one atomic statement by the database's clock, so every gunicorn worker and
every pod of the service counts against one limit. The client's address is ``REMOTE_ADDR``
unless ``LOTUS_NUM_PROXIES`` says how many proxies in front of the service append to
``X-Forwarded-For`` (DRF's ``NUM_PROXIES``): a client cannot pick the address it is counted by.
"""
