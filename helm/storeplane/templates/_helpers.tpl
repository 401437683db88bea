{{- define "storeplane.fullname" -}}
{{- if contains "storeplane" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-storeplane" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "storeplane.labels" -}}
app.kubernetes.io/name: storeplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "storeplane.selector" -}}
app.kubernetes.io/name: storeplane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "storeplane.serviceAccount" -}}
{{- default (include "storeplane.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Fails rendering when the values cannot work. */}}
{{- define "storeplane.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.database.type "postgres") -}}
{{- fail "replicaCount > 1 needs database.type: postgres (replicas share the job queue through the database)" -}}
{{- end -}}
{{- if and (eq .Values.database.type "postgres") (not .Values.database.existingSecret) (not .Values.database.url) -}}
{{- fail "database.type postgres needs database.url or database.existingSecret" -}}
{{- end -}}
{{- if and (not .Values.jwt.existingSecret) (lt (len .Values.jwt.secret) 32) -}}
{{- fail "set jwt.existingSecret, or jwt.secret with at least 32 characters" -}}
{{- end -}}
{{- end -}}

{{/* The ClusterRole the host binds into each store namespace (never cluster-wide). */}}
{{- define "storeplane.storeRole" -}}
{{- printf "%s-store" (include "storeplane.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The user name Kubernetes gives the control plane's ServiceAccount. */}}
{{- define "storeplane.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "storeplane.serviceAccount" .) -}}
{{- end -}}
