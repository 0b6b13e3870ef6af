{{/* Chart name, cut to the 63 characters of a label value. */}}
{{- define "rolechain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object: the release name when it already contains the
chart name (a release called "rolechain" gives "rolechain", not
"rolechain-rolechain").
*/}}
{{- define "rolechain.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rolechain.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rolechain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rolechain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "rolechain.labels" -}}
helm.sh/chart: {{ include "rolechain.chart" . }}
{{ include "rolechain.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* An image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "rolechain.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag) }}
{{- end }}
{{- end }}

{{- define "rolechain.webhookImage" -}}
{{- include "rolechain.image" (dict "image" .Values.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "rolechain.sidecarImage" -}}
{{- include "rolechain.image" (dict "image" .Values.sidecar.image "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "rolechain.certSecretName" -}}
{{- default (printf "%s-tls" (include "rolechain.fullname" .)) .Values.certs.secretName }}
{{- end }}

{{- define "rolechain.selfManagedCerts" -}}
{{- if eq .Values.certs.mode "self-managed" }}true{{ end }}
{{- end }}

{{/*
Namespaces the webhook never mutates: kube-system (a broken webhook must not
block the control plane's own pods), the release namespace (the webhook must
be able to start its own replicas while none of them answers), and the
user's list. Sorted and deduplicated so the rendering is stable.
*/}}
{{- define "rolechain.excludedNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.webhook.excludedNamespaces | uniq | sortAlpha | join "," }}
{{- end }}

{{/* The name of the single webhook entry in the MutatingWebhookConfiguration. */}}
{{- define "rolechain.webhookName" -}}
pod.rolechain.dev
{{- end }}

{{/*
rolechain.clientCADir: where webhook.clientCA is mounted. Outside any
default --cert-dir; _validate.tpl refuses a certDir that overlaps it.
*/}}
{{- define "rolechain.clientCADir" -}}
/etc/rolechain/client-ca
{{- end -}}
