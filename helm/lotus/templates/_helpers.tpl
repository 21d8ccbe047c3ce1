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

{{- define "lotus.secretName" -}}
{{- include "lotus.fullname" . }}
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

{{/* KAFKA_BOOTSTRAP_SERVERS: the chart's broker, or externalKafka.bootstrapServers. */}}
{{- define "lotus.kafkaBootstrapServers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s.%s.svc.%s:9092" (include "lotus.kafkaName" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- required "kafka.enabled=false needs externalKafka.bootstrapServers" .Values.externalKafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/*
The database URL of one service; call with (dict "root" $ "service" "billing" "password" $pw).
Same rules as lotus/topology.py: externalDatabase.urls.<service>, else externalDatabase.url with
the database <name>_<service>; with the chart's PostgreSQL, <database>_<service> on it.
*/}}
{{- define "lotus.databaseUrl" -}}
{{- $v := .root.Values }}
{{- if $v.postgresql.enabled }}
{{- printf "postgresql://%s:%s@%s.%s.svc.%s:5432/%s_%s" (urlquery $v.postgresql.username) (urlquery .password) (include "lotus.postgresqlName" .root) .root.Release.Namespace $v.clusterDomain $v.postgresql.database .service }}
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
Environment shared by every Lotus container: the ConfigMap (envFrom, see lotus.envFrom), every
service's database URL and the signing keys from the Secret, and LOTUS_SERVICES. Call with
(dict "root" $ "service" "billing").
*/}}
{{- define "lotus.env" -}}
- name: LOTUS_SERVICES
  value: {{ .service | quote }}
{{- range $service := include "lotus.serviceList" .root | fromJsonArray }}
- name: DATABASE_URL_{{ upper $service }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lotus.secretName" $.root }}
      key: database-url-{{ $service }}
{{- end }}
- name: DJANGO_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "lotus.secretName" .root }}
      key: django-secret-key
- name: LOTUS_JWT_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "lotus.secretName" .root }}
      key: jwt-signing-key
{{- end }}

{{- define "lotus.envFrom" -}}
- configMapRef:
    name: {{ include "lotus.configName" . }}
{{- end }}

{{/* Pod template annotations: roll the pods when the configuration changes. */}}
{{- define "lotus.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret-values: {{ toJson (list .Values.secrets .Values.postgresql.password .Values.externalDatabase) | sha256sum }}
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
{{- end }}

{{- define "lotus.volumes" -}}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
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
