# One image for every Lotus process; the command picks the role:
#   web       gunicorn lotus.wsgi --bind 0.0.0.0:8000 ...        (the default CMD)
#   relay     python manage.py relay --service NAME
#   consumer  python manage.py consume --service NAME
#   deadlines python manage.py expire_orders --loop
#   jobs      python manage.py createdbs | migrateall | kafka_topics | seed
# Configuration comes from the environment only (see the README); the Helm chart in
# helm/lotus sets it. Build: docker build -t lotus:0.1.0 .

# The /api/asyncapi page's renderer, AsyncAPI's React component, from npm at the version pinned
# in package-lock.json; only its browser bundle and style sheet reach the image.
FROM node:20-slim AS asyncapi-ui
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    LOTUS_VAR_DIR=/tmp/lotus

WORKDIR /app

# An unprivileged user with a fixed uid, so that Kubernetes can check runAsNonRoot.
RUN groupadd --system --gid 10001 lotus \
    && useradd --system --uid 10001 --gid lotus --home-dir /app --no-create-home --shell /usr/sbin/nologin lotus

# Runtime dependencies only (requirements.txt is fully pinned; no dev tools in the image).
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the process can read it but not change it.
COPY . .
COPY --from=asyncapi-ui /build/node_modules/@asyncapi/react-component/browser/standalone/index.js \
     node_modules/@asyncapi/react-component/browser/standalone/
COPY --from=asyncapi-ui /build/node_modules/@asyncapi/react-component/styles/default.min.css \
     node_modules/@asyncapi/react-component/styles/
RUN python -m compileall -q lotus profiles billing orders stock delivery notifications sagas reconciliation \
    && DJANGO_DEBUG=1 python manage.py collectstatic --noinput --verbosity 0

USER 10001:10001
EXPOSE 8000 9100

CMD ["gunicorn", "lotus.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", \
     "--access-logfile", "-", "--graceful-timeout", "10"]
