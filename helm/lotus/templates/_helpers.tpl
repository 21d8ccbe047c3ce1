{{/*
The six services, in the order of lotus/topology.py's SERVICES.
*/}}
{{- define "lotus.services" -}}
profiles billing orders stock delivery notifications
{{- end }}

{{- define "lotus.serviceList" -}}
{{- splitList " " (include "lotus.services" .) | toJson }}
{{- end }}

{{- define "lotus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 30 | trimSuffix "-" }}
{{- end }}

{{/*
<fullname>-<service>-<component>[-metrics] must stay a DNS label (63 characters): the longest
suffix, "-notifications-consumer-metrics", has 31, so fullname is cut at 30.
*/}}
{{- define "lotus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lotus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "web" "service" "billing"). */}}
{{- define "lotus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lotus.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- if .service }}
lotus/service: {{ .service }}
{{- end }}
{{- end }}

{{- define "lotus.labels" -}}
helm.sh/chart: {{ include "lotus.chart" .root }}
{{ include "lotus.selectorLabels" . }}
app.kubernetes.io/part-of: lotus
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "lotus.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "lotus.configName" -}}
{{- printf "%s-config" (include "lotus.fullname" .) }}
{{- end }}

{{- define "lotus.postgresqlName" -}}
{{- printf "%s-postgresql" (include "lotus.fullname" .) }}
{{- end }}

{{- define "lotus.kafkaName" -}}
{{- printf "%s-kafka" (include "lotus.fullname" .) }}
{{- end }}

{{/* KAFKA_BOOTSTRAP_SERVERS: the chart's broker(s), or externalKafka.bootstrapServers. */}}
{{- define "lotus.kafkaBootstrapServers" -}}
{{- if and .Values.kafka.enabled (eq (int .Values.kafka.replicas) 1) }}
{{- printf "%s.%s.svc.%s:9092" (include "lotus.kafkaName" .) .Release.Namespace .Values.clusterDomain }}
{{- else if .Values.kafka.enabled }}
{{- /* Every node by name: a client still finds the cluster while any one of them answers. */}}
{{- $name := include "lotus.kafkaName" . }}
{{- $servers := list }}
{{- range $i := until (int .Values.kafka.replicas) }}
{{- $servers = append $servers (printf "%s-%d.%s.%s.svc.%s:9092" $name $i $name $.Release.Namespace $.Values.clusterDomain) }}
{{- end }}
{{- join "," $servers }}
{{- else }}
{{- required "kafka.enabled=false needs externalKafka.bootstrapServers" .Values.externalKafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/*
The database URL of one service; call with
(dict "root" $ "service" "billing" "password" $pw "readOnly" false).
Same rules as lotus/topology.py: externalDatabase.urls.<service>, else externalDatabase.url with
the database <name>_<service>; with the chart's PostgreSQL, <database>_<service> on it, as the
role of the same name (or <database>_<service>_ro, readOnly). readOnly with an external database:
externalDatabase.readOnlyUrls.<service>, else the service's own URL.
*/}}
{{- define "lotus.databaseUrl" -}}
{{- $v := .root.Values }}
{{- if $v.postgresql.enabled }}
{{- $database := printf "%s_%s" $v.postgresql.database .service }}
{{- $user := ternary (printf "%s_ro" $database) $database (eq .readOnly true) }}
{{- printf "postgresql://%s:%s@%s.%s.svc.%s:5432/%s" (urlquery $user) (urlquery .password) (include "lotus.postgresqlName" .root) .root.Release.Namespace $v.clusterDomain $database }}
{{- else if and (eq .readOnly true) (get ($v.externalDatabase.readOnlyUrls | default dict) .service) }}
{{- get $v.externalDatabase.readOnlyUrls .service }}
{{- else if (get ($v.externalDatabase.urls | default dict) .service) }}
{{- get $v.externalDatabase.urls .service }}
{{- else if $v.externalDatabase.url }}
{{- $url := urlParse $v.externalDatabase.url }}
{{- $name := trimPrefix "/" (get $url "path") | default "lotus" }}
{{- $_ := set $url "path" (printf "/%s_%s" $name .service) }}
{{- urlJoin $url }}
{{- else }}
{{- fail (printf "postgresql.enabled=false needs externalDatabase.url or externalDatabase.urls.%s" .service) }}
{{- end }}
{{- end }}

{{/*
A secret value: the one given, else the one already in the cluster (`data` of a looked-up
Secret), else a new random one. Call with (dict "given" $v "existing" $data "key" "k").
*/}}
{{- define "lotus.keep" -}}
{{- if .given }}
{{- .given | toString }}
{{- else if hasKey .existing .key }}
{{- get .existing .key | b64dec }}
{{- else }}
{{- randAlphaNum 64 }}
{{- end }}
{{- end }}

{{/*
Kafka ACLs of each service's principal, derived from the code (tests/helm checks them against
lotus.contracts, each app's services.py and lotus.bootstrap.handlers_for): `write` the topics
its outbox publishes (its events, the commands it sends, diagnostics.commands for
`manage.py ping`, its dead letters), `read` the topics its consumer subscribes to (with the
consumer group lotus.<service>). Logical names; LOTUS_KAFKA_NAMESPACE prefixes them.
*/}}
{{- define "lotus.kafkaAcls" -}}
profiles:
  write: [profiles.events, diagnostics.commands, profiles.deadletter]
  read: [diagnostics.commands]
billing:
  write: [billing.events, diagnostics.commands, billing.deadletter]
  read: [billing.commands, diagnostics.commands, profiles.events]
orders:
  write: [orders.events, billing.commands, stock.commands, delivery.commands, diagnostics.commands, orders.deadletter]
  read: [billing.events, delivery.events, diagnostics.commands, stock.events]
stock:
  write: [stock.events, diagnostics.commands, stock.deadletter]
  read: [diagnostics.commands, stock.commands]
delivery:
  write: [delivery.events, diagnostics.commands, delivery.deadletter]
  read: [delivery.commands, diagnostics.commands]
notifications:
  write: [diagnostics.commands, notifications.deadletter]
  read: [diagnostics.commands, orders.events]
{{- end }}

{{/* Every topic Lotus uses (logical names), from lotus.kafkaAcls. */}}
{{- define "lotus.kafkaTopics" -}}
{{- $topics := list }}
{{- range $service, $acl := include "lotus.kafkaAcls" . | fromYaml }}
{{- $topics = concat $topics $acl.write $acl.read }}
{{- end }}
{{- $topics | uniq | sortAlpha | toJson }}
{{- end }}

{{/* The physical name of a logical topic or group; call with (dict "root" $ "name" "x"). */}}
{{- define "lotus.kafkaPrefixed" -}}
{{- with .root.Values.kafka.topicNamespace }}{{ . }}.{{ end }}{{ .name }}
{{- end }}

{{/* The chart's broker authenticates clients (SASL/SCRAM) and authorizes them (ACLs). */}}
{{- define "lotus.kafkaSasl" -}}
{{- if and .Values.kafka.enabled .Values.kafka.sasl.enabled }}true{{ end }}
{{- end }}

{{/* Secret of one component: <fullname>-<profiles|...|admin|jobs>. */}}
{{- define "lotus.componentSecretName" -}}
{{- printf "%s-%s" (include "lotus.fullname" .root) .name }}
{{- end }}

{{/*
TLS settings of the Lotus pods when the ingress terminates TLS (ingress.tls.secretName).
TODO(issue 14, item 5): the variable names the settings read (SECURE_PROXY_SSL_HEADER, secure
cookies, HSTS) are wired here, in one place, once the settings exist.
*/}}
{{- define "lotus.tlsEnv" -}}
{{- if .Values.ingress.tls.secretName }}
- name: LOTUS_TLS
  value: "true"
{{- end }}
{{- end }}

{{/*
Environment of one Lotus container: the ConfigMap (envFrom, see lotus.envFrom) plus what this
component alone may hold, all from its own Secret. Call with
(dict "root" $ "services" "billing" "owner" "billing" "databases" (list "billing") "kafka" "billing")
  services   LOTUS_SERVICES
  owner      whose Secret: a service, "admin" or "jobs"
  databases  the services whose DATABASE_URL_<SERVICE> it gets
  kafka      its Kafka principal ("" for none)
*/}}
{{- define "lotus.env" -}}
{{- $root := .root }}
{{- $secret := include "lotus.componentSecretName" (dict "root" $root "name" .owner) }}
- name: LOTUS_SERVICES
  value: {{ .services | quote }}
{{- range $service := .databases }}
- name: DATABASE_URL_{{ upper $service }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: database-url-{{ $service }}
{{- end }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      {{- with $root.Values.secrets.djangoExistingSecret }}
      name: {{ . }}
      key: django-secret-key-{{ $.owner }}
      {{- else }}
      name: {{ $secret }}
      key: django-secret-key
      {{- end }}
- name: LOTUS_JWT_PUBLIC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.jwt.existingSecret | default $secret }}
      key: {{ ternary "public-key" "jwt-public-key" (ne $root.Values.secrets.jwt.existingSecret "") }}
{{- if eq .owner "profiles" }}
- name: LOTUS_JWT_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.secrets.jwt.existingSecret | default $secret }}
      key: {{ ternary "private-key" "jwt-private-key" (ne $root.Values.secrets.jwt.existingSecret "") }}
{{- end }}
{{- if .kafka }}
{{- if include "lotus.kafkaSasl" $root }}
- name: KAFKA_SASL_USERNAME
  value: {{ .kafka | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: kafka-password
{{- else if and (not $root.Values.kafka.enabled) (hasPrefix "SASL" $root.Values.externalKafka.securityProtocol) }}
{{- $external := required "externalKafka.securityProtocol SASL_* needs externalKafka.existingSecret" $root.Values.externalKafka.existingSecret }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $external }}
      key: username-{{ .owner }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $external }}
      key: password-{{ .owner }}
{{- end }}
{{- end }}
{{- include "lotus.tlsEnv" $root }}
{{- if $root.Values.tracing.enabled }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "lotus-%s" .owner | quote }}
{{- end }}
{{- end }}

{{/* lotus.env of a service's own pods (web, relay, consumer, deadline checker). */}}
{{- define "lotus.serviceEnv" -}}
{{- include "lotus.env" (dict "root" .root "services" .service "owner" .service "databases" (list .service) "kafka" .service) }}
{{- end }}

{{- define "lotus.envFrom" -}}
- configMapRef:
    name: {{ include "lotus.configName" . }}
{{- end }}

{{/* Pod template annotations: roll the pods when the configuration changes. */}}
{{- define "lotus.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret-values: {{ toJson (list .Values.secrets .Values.postgresql.password .Values.externalDatabase .Values.externalKafka) | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by every Lotus pod. */}}
{{- define "lotus.podSpec" -}}
enableServiceLinks: false
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container-level settings shared by every Lotus container. */}}
{{- define "lotus.container" -}}
image: {{ include "lotus.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if include "lotus.kafkaCa" . }}
  - name: kafka-ca
    mountPath: /etc/lotus/kafka-ca
    readOnly: true
  {{- end }}
{{- end }}

{{- define "lotus.volumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
  {{- if include "lotus.kafkaCa" . }}
  - name: kafka-ca
    secret:
      secretName: {{ .Values.externalKafka.tls.caSecret }}
      items:
        - key: {{ .Values.externalKafka.tls.caKey }}
          path: ca.crt
  {{- end }}
{{- end }}

{{/* An external Kafka's CA bundle is mounted (externalKafka.tls.caSecret). */}}
{{- define "lotus.kafkaCa" -}}
{{- if and (not .Values.kafka.enabled) .Values.externalKafka.tls.caSecret }}true{{ end }}
{{- end }}

{{/* KAFKA_SSL_CA_LOCATION: where lotus.container mounts that bundle. */}}
{{- define "lotus.kafkaCaPath" -}}
/etc/lotus/kafka-ca/ca.crt
{{- end }}

{{/* Resources of a service's component: its own, else serviceDefaults. */}}
{{- define "lotus.resources" -}}
{{- $own := (get (get .root.Values.services .service) .component).resources }}
{{- toYaml (default (get .root.Values.serviceDefaults .component).resources $own) }}
{{- end }}

{{/* Init container waiting until the chart's PostgreSQL accepts connections. */}}
{{- define "lotus.waitForPostgresql" -}}
{{- if .Values.postgresql.enabled }}
- name: wait-for-postgresql
  image: {{ printf "%s:%s" .Values.postgresql.image.repository .Values.postgresql.image.tag }}
  imagePullPolicy: {{ .Values.postgresql.image.pullPolicy }}
  command:
    - sh
    - -c
    - until pg_isready --quiet --host {{ include "lotus.postgresqlName" . }} --port 5432 --username {{ .Values.postgresql.username }} --dbname {{ .Values.postgresql.database }}; do echo waiting for PostgreSQL; sleep 2; done
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
{{- end }}
{{- end }}

{{/* Init container waiting until the chart's Kafka broker accepts connections. */}}
{{- define "lotus.waitForKafka" -}}
{{- if .Values.kafka.enabled }}
- name: wait-for-kafka
  image: {{ printf "%s:%s" .Values.kafka.image.repository .Values.kafka.image.tag }}
  imagePullPolicy: {{ .Values.kafka.image.pullPolicy }}
  command:
    - bash
    - -c
    - until (exec 3<>/dev/tcp/{{ include "lotus.kafkaName" . }}/9092) 2>/dev/null; do echo waiting for Kafka; sleep 2; done
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
{{- end }}
{{- end }}

{{/* Passwords of the service roles, for lotus-roles.sh (PW_<SERVICE>, PW_<SERVICE>_RO). */}}
{{- define "lotus.postgresqlRoleEnv" -}}
{{- range $service := include "lotus.serviceList" . | fromJsonArray }}
{{- range $suffix := list "" "-ro" }}
- name: PW_{{ upper $service }}{{ upper $suffix | replace "-" "_" }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lotus.postgresqlName" $ }}
      key: password-{{ $service }}{{ $suffix }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A container running lotus-roles.sh against the chart's PostgreSQL as its superuser (the migrate
Job); call with (dict "root" $ "name" "postgresql-roles").
*/}}
{{- define "lotus.postgresqlRoles" -}}
{{- $root := .root }}
{{- if $root.Values.postgresql.enabled }}
- name: {{ .name }}
  image: {{ printf "%s:%s" $root.Values.postgresql.image.repository $root.Values.postgresql.image.tag }}
  imagePullPolicy: {{ $root.Values.postgresql.image.pullPolicy }}
  command: ["sh", "/scripts/lotus-roles.sh"]
  env:
    - name: PGHOST
      value: {{ include "lotus.postgresqlName" $root }}
    - name: POSTGRES_USER
      value: {{ $root.Values.postgresql.username | quote }}
    - name: POSTGRES_DB
      value: {{ $root.Values.postgresql.database | quote }}
    - name: PGPASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "lotus.postgresqlName" $root }}
          key: postgres-password
    {{- include "lotus.postgresqlRoleEnv" $root | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: postgresql-scripts
      mountPath: /scripts
      readOnly: true
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {cpu: 200m, memory: 128Mi}
{{- end }}
{{- end }}

{{/*
The chart's Kafka nodes: kafka.replicas pods of the StatefulSet <fullname>-kafka, each broker
and controller (KRaft). One: node.id 1, its controller on localhost alone. More: node.id is the
pod's ordinal, every node is a voter reached at <pod>.<headless Service>:9093.
Call with the root; returns a JSON list of "<node.id>@<host>:9093".
*/}}
{{- define "lotus.kafkaVoters" -}}
{{- $name := include "lotus.kafkaName" . }}
{{- $voters := list }}
{{- if eq (int .Values.kafka.replicas) 1 }}
{{- $voters = list "1@localhost:9093" }}
{{- else }}
{{- range $i := until (int .Values.kafka.replicas) }}
{{- $voters = append $voters (printf "%d@%s-%d.%s.%s.svc.%s:9093" $i $name $i $name $.Release.Namespace $.Values.clusterDomain) }}
{{- end }}
{{- end }}
{{- $voters | toJson }}
{{- end }}

{{/*
Replication factor of the broker's own topics (consumer offsets, transaction state): three
copies where there are three nodes, fewer only where there are fewer nodes.
*/}}
{{- define "lotus.kafkaInternalReplication" -}}
{{- min 3 (int .Values.kafka.replicas) }}
{{- end }}

{{/*
Values that contradict each other fail the render with a message naming them (the schema checks
each value alone).
*/}}
{{- define "lotus.checkKafkaValues" -}}
{{- $k := .Values.kafka }}
{{- if and $k.enabled (gt (int $k.replicationFactor) (int $k.replicas)) }}
{{- fail (printf "kafka.replicationFactor (%d) is larger than kafka.replicas (%d): a partition cannot have more copies than there are brokers" (int $k.replicationFactor) (int $k.replicas)) }}
{{- end }}
{{- if gt (int $k.minInsyncReplicas) (int $k.replicationFactor) }}
{{- fail (printf "kafka.minInsyncReplicas (%d) is larger than kafka.replicationFactor (%d): no write could ever be acknowledged" (int $k.minInsyncReplicas) (int $k.replicationFactor)) }}
{{- end }}
{{- $tls := .Values.externalKafka.tls }}
{{- if and (not $k.enabled) $tls.caSecret (not (has .Values.externalKafka.securityProtocol (list "SSL" "SASL_SSL"))) }}
{{- fail (printf "externalKafka.tls.caSecret needs externalKafka.securityProtocol SSL or SASL_SSL (not %s)" .Values.externalKafka.securityProtocol) }}
{{- end }}
{{- end }}

{{/*
The chart's broker: the ConfigMap <fullname>-kafka-config. server.properties (everything but
the node's id when there are several, the advertised address and the broker's own password,
which start.sh adds), the topics and the ACLs (acls.txt: "<principal> <operation> <topic|group>
<name>...", physical names).

One node (kafka.replicas 1): its controller listener is PLAINTEXT on localhost, so only the
node itself reaches it (ANONYMOUS is the super user there). Several: the controllers talk to
each other and every broker to them across pods, so the controller listener listens on every
address; with SASL it takes SASL/PLAIN as the principal broker (SCRAM cannot serve there: its
credentials live in the metadata the quorum has yet to elect a leader for) and ANONYMOUS is no
longer a super user. The NetworkPolicy <fullname>-kafka-quorum admits only the Kafka pods to it.
*/}}
{{- define "lotus.kafkaConfig" -}}
{{- $kafka := .Values.kafka }}
{{- $sasl := include "lotus.kafkaSasl" . }}
{{- $listener := ternary "SASL_PLAINTEXT" "PLAINTEXT" (eq $sasl "true") }}
{{- $principals := concat (list "broker" "kafka-admin" "admin") (include "lotus.serviceList" . | fromJsonArray) }}
{{- $replicas := int $kafka.replicas }}
{{- $internal := include "lotus.kafkaInternalReplication" . | int }}
server.properties: |
  {{- if eq $replicas 1 }}
  node.id=1
  {{- else }}
  # node.id: the pod's ordinal, added by start.sh.
  {{- end }}
  process.roles=broker,controller
  controller.quorum.voters={{ include "lotus.kafkaVoters" . | fromJsonArray | join "," }}
  {{- if eq $replicas 1 }}
  # The controller listener answers only inside the pod.
  listeners={{ $listener }}://:9092,CONTROLLER://localhost:9093
  listener.security.protocol.map=CONTROLLER:PLAINTEXT,{{ $listener }}:{{ $listener }}
  {{- else }}
  # The controllers of every pod form one quorum: the controller listener answers other pods.
  listeners={{ $listener }}://:9092,CONTROLLER://:9093
  listener.security.protocol.map=CONTROLLER:{{ $listener }},{{ $listener }}:{{ $listener }}
  {{- end }}
  controller.listener.names=CONTROLLER
  inter.broker.listener.name={{ $listener }}
  {{- if $sasl }}
  sasl.enabled.mechanisms=SCRAM-SHA-512
  sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
  {{- if gt $replicas 1 }}
  listener.name.controller.sasl.enabled.mechanisms=PLAIN
  sasl.mechanism.controller.protocol=PLAIN
  {{- end }}
  authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
  allow.everyone.if.no.acl.found=false
  {{- if eq $replicas 1 }}
  # broker: itself on the inter-broker listener; kafka-admin: setup.sh and the topics Job;
  # ANONYMOUS: the broker reaching its own controller on the localhost-only listener.
  super.users=User:broker;User:kafka-admin;User:ANONYMOUS
  {{- else }}
  # broker: every node, to the other brokers (SCRAM) and to the controllers (PLAIN);
  # kafka-admin: setup.sh and the topics Job.
  super.users=User:broker;User:kafka-admin
  {{- end }}
  {{- end }}
  log.dirs=/var/lib/kafka/data/logs
  num.partitions={{ $kafka.partitions }}
  # Topics are the project's (setup.sh, manage.py kafka_topics), never the broker's.
  auto.create.topics.enable=false
  # The default 3 s would delay every new consumer group.
  group.initial.rebalance.delay.ms=0
  offsets.topic.replication.factor={{ $internal }}
  transaction.state.log.replication.factor={{ $internal }}
  transaction.state.log.min.isr={{ max 1 (sub $internal 1) }}
  default.replication.factor={{ $kafka.replicationFactor }}
  min.insync.replicas={{ $kafka.minInsyncReplicas }}
  # A replica that missed writes never becomes leader: an unavailable partition, not lost records.
  unclean.leader.election.enable=false
topics.txt: |
  {{- range $topic := include "lotus.kafkaTopics" . | fromJsonArray }}
  {{ include "lotus.kafkaPrefixed" (dict "root" $ "name" $topic) }}
  {{- end }}
acls.txt: |
  {{- range $service, $acl := include "lotus.kafkaAcls" . | fromYaml }}
  {{ $service }} Write topic{{ range $acl.write }} {{ include "lotus.kafkaPrefixed" (dict "root" $ "name" .) }}{{ end }}
  {{ $service }} Read topic{{ range $acl.read }} {{ include "lotus.kafkaPrefixed" (dict "root" $ "name" .) }}{{ end }}
  {{ $service }} Read group {{ include "lotus.kafkaPrefixed" (dict "root" $ "name" (printf "lotus.%s" $service)) }}
  {{- end }}
start.sh: |
  set -euo pipefail
  config=/tmp/server.properties
  cp /etc/lotus-kafka/server.properties "$config"
  {{- if gt $replicas 1 }}
  # <fullname>-kafka-<ordinal>: the ordinal is the node's id in the quorum.
  echo "node.id=${POD_NAME##*-}" >> "$config"
  {{- end }}
  echo "advertised.listeners={{ $listener }}://${ADVERTISED_HOST}:9092" >> "$config"
  scram=()
  {{- if $sasl }}
  echo "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"${SCRAM_PASSWORD_BROKER}\";" >> "$config"
  {{- if gt $replicas 1 }}
  # The controller listener: the node logs in as broker, and admits broker alone.
  echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"${SCRAM_PASSWORD_BROKER}\" user_broker=\"${SCRAM_PASSWORD_BROKER}\";" >> "$config"
  {{- end }}
  {{- range $principal := $principals }}
  scram+=(--add-scram "SCRAM-SHA-512=[name={{ $principal }},password=${SCRAM_PASSWORD_{{ $principal | upper | replace "-" "_" }}}]")
  {{- end }}
  {{- end }}
  # Only a volume never formatted is formatted (with the credentials); later starts skip it.
  /opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" --config "$config" "${scram[@]}"
  bash /etc/lotus-kafka/setup.sh > /tmp/setup.log 2>&1 &
  exec /opt/kafka/bin/kafka-server-start.sh "$config"
setup.sh: |
  # Idempotent, at every start of every node: (SASL) every principal's SCRAM credential and the
  # ACLs of acls.txt, then the topics. Each node runs it against itself, so that any node that
  # starts applies a changed list; done twice at once it converges all the same (a credential
  # upserted twice holds the same password, an ACL added twice is one ACL, a topic another node
  # created first is left alone). Its log: /tmp/setup.log in the broker's container.
  set -uo pipefail
  bin=/opt/kafka/bin
  client=(--bootstrap-server localhost:9092)
  {{- if $sasl }}
  printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"kafka-admin\" password=\"${SCRAM_PASSWORD_KAFKA_ADMIN}\";" \
    > /tmp/admin.properties
  client+=(--command-config /tmp/admin.properties)
  {{- end }}
  until "$bin/kafka-topics.sh" "${client[@]}" --list > /dev/null; do sleep 3; done
  {{- if $sasl }}
  {{- range $principal := $principals }}
  "$bin/kafka-configs.sh" "${client[@]}" --alter --entity-type users --entity-name {{ $principal }} \
    --add-config "SCRAM-SHA-512=[password=${SCRAM_PASSWORD_{{ $principal | upper | replace "-" "_" }}}]"
  {{- end }}
  while read -r principal operation type names; do
    [ -n "$principal" ] || continue
    args=()
    for name in $names; do args+=("--$type" "$name"); done
    "$bin/kafka-acls.sh" "${client[@]}" --add --allow-principal "User:$principal" --operation "$operation" "${args[@]}"
  done < /etc/lotus-kafka/acls.txt
  {{- end }}
  {{- if gt (int $kafka.replicationFactor) 1 }}
  # A topic needs as many live brokers as copies: wait for them (the topics Job would refuse too).
  until [ "$("$bin/kafka-broker-api-versions.sh" "${client[@]}" 2>/dev/null | grep -c '(id: ')" -ge {{ $kafka.replicationFactor }} ]; do
    echo "setup.sh: waiting for {{ $kafka.replicationFactor }} brokers"; sleep 5
  done
  {{- end }}
  while read -r topic; do
    [ -n "$topic" ] && "$bin/kafka-topics.sh" "${client[@]}" --create --if-not-exists --topic "$topic" \
      --partitions {{ $kafka.partitions }} --replication-factor {{ $kafka.replicationFactor }} \
      --config retention.ms={{ mulf $kafka.retentionHours 3600000 | int64 }} --config min.insync.replicas={{ $kafka.minInsyncReplicas }}
  done < /etc/lotus-kafka/topics.txt
  echo "setup.sh: done"
{{- end }}
