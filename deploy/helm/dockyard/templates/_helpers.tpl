{{/* Names and labels. */}}
{{- define "dockyard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dockyard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dockyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dockyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dockyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dockyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dockyard.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
Checks made before anything renders: the combinations that cannot work fail the release
with a message saying what to change.
*/}}
{{- define "dockyard.validate" -}}
{{- $mode := .Values.mode -}}
{{- if not (has $mode (list "embedded" "external")) -}}
{{- fail (printf "mode must be embedded or external, not %q" $mode) -}}
{{- end -}}
{{- if lt (int .Values.replicas) 1 -}}
{{- fail "replicas must be at least 1" -}}
{{- end -}}
{{- if and (eq $mode "embedded") (gt (int .Values.replicas) 1) -}}
{{- fail "embedded mode (SQLite + a local volume) runs exactly one replica: set replicas=1, or mode=external with PostgreSQL and S3 to run more" -}}
{{- end -}}
{{- if eq $mode "external" -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "external mode needs database.existingSecret: a Secret whose key database.key holds the PostgreSQL URL" -}}
{{- end -}}
{{- if or (not .Values.s3.bucket) (not .Values.s3.existingSecret) -}}
{{- fail "external mode needs s3.bucket and s3.existingSecret (a Secret with the access and secret keys)" -}}
{{- end -}}
{{- end -}}
{{- range $key := list "database_url" "admin_password" "directories" "host" "port" "data_dir" "workers" "public_url" "trusted_proxies" -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s is set by the chart (or holds secrets): use the chart's own value or an existingSecret" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod's environment: plain settings as values, every credential from a Secret. */}}
{{- define "dockyard.env" -}}
- name: DOCKYARD_WORKERS
  value: {{ .Values.workers | quote }}
{{- with .Values.adminPassword.existingSecret }}
- name: DOCKYARD_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.adminPassword.key }}
{{- end }}
{{- with .Values.secretsKey.existingSecret }}
- name: DOCKYARD_SECRETS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secretsKey.key }}
{{- end }}
{{- if eq .Values.mode "external" }}
- name: DOCKYARD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
- name: DOCKYARD_STORAGE_DRIVER
  value: s3
{{- with .Values.s3.endpointUrl }}
- name: DOCKYARD_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
- name: DOCKYARD_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
{{- with .Values.s3.region }}
- name: DOCKYARD_S3_REGION
  value: {{ . | quote }}
{{- end }}
- name: DOCKYARD_S3_REDIRECT
  value: {{ .Values.s3.redirect | quote }}
- name: DOCKYARD_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.accessKeyKey }}
- name: DOCKYARD_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.secretKeyKey }}
{{- end }}
{{- end -}}
