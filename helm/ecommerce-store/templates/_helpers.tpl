{{/* Store id assigned by storeplane. */}}
{{- define "store.id" -}}
{{- required "storeId is required (set by storeplane)" .Values.storeId -}}
{{- end -}}

{{/* Prefix of every object name: "store-<id>" (Service names must start with a letter). */}}
{{- define "store.name" -}}
{{- printf "store-%s" (include "store.id" .) -}}
{{- end -}}

{{/* Name of the credentials Secret created by storeplane. */}}
{{- define "store.secret" -}}
{{- required "credentialsSecret is required (set by storeplane)" .Values.credentialsSecret -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "store.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storeplane
storeplane.io/store-id: {{ include "store.id" . | quote }}
storeplane.io/engine: {{ .Values.engine }}
{{- end -}}

{{/*
Labels of StatefulSet volumeClaimTemplates: nothing that changes with a chart release, since
the API server refuses any change to a StatefulSet's claim templates.
*/}}
{{- define "store.claimLabels" -}}
app.kubernetes.io/part-of: storeplane
storeplane.io/store-id: {{ include "store.id" . | quote }}
storeplane.io/engine: {{ .Values.engine }}
{{- end -}}

{{/*
Selector labels of one workload: dict "ctx" $ "name" "wordpress" "component" "web".
name + component differ between an app and its database, so selectors never overlap.
*/}}
{{- define "store.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ include "store.id" .ctx | quote }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A secretKeyRef env var: dict "ctx" $ "env" "DB_PASSWORD" "key" "db-password". */}}
{{- define "store.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "store.secret" .ctx }}
      key: {{ .key }}
{{- end -}}

{{/* Hardened container security context for processes that run as non-root from the start. */}}
{{- define "store.restrictedContainer" -}}
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod-level settings shared by every workload. */}}
{{- define "store.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* volumeClaimTemplate / PVC spec body: dict "ctx" $ "size" "2Gi". */}}
{{- define "store.pvcSpec" -}}
accessModes: ["ReadWriteOnce"]
{{- with .ctx.Values.storageClass }}
storageClassName: {{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .size }}
{{- end -}}

{{/* Ingress to one Service: dict "ctx" $ "name" "<id>-wordpress" "component" "web". */}}
{{- define "store.ingress" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .name }}
  labels:
    {{- include "store.labels" $ctx | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  {{- with $ctx.Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ctx.Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if $ctx.Values.ingress.tls }}
  tls:
    - hosts:
        - {{ $ctx.Values.ingress.host | quote }}
      secretName: {{ $ctx.Values.ingress.tlsSecretName | default (printf "%s-tls" (include "store.name" $ctx)) }}
  {{- end }}
  rules:
    - host: {{ required "ingress.host is required when ingress.enabled" $ctx.Values.ingress.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .name }}
                port:
                  name: http
{{- end }}
{{- end -}}


{{/* Database settings the official WordPress image's wp-config.php reads from the environment;
both the web container and the WP-CLI sidecar need them. */}}
{{- define "store.wordpressDbEnv" -}}
- name: WORDPRESS_DB_HOST
  value: {{ printf "%s-mariadb" (include "store.name" .) | quote }}
- name: WORDPRESS_DB_NAME
  value: {{ .Values.mariadb.database | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.mariadb.username | quote }}
{{ include "store.secretEnv" (dict "ctx" . "env" "WORDPRESS_DB_PASSWORD" "key" "db-password") }}
- name: WORDPRESS_TABLE_PREFIX
  value: {{ .Values.wordpress.tablePrefix | quote }}
{{- end -}}

{{/*
Environment of the Medusa server and of its setup sidecar (the same program, the same
database, the same secrets, all by reference to the credentials Secret).
*/}}
{{- define "store.medusaEnv" -}}
{{- $id := include "store.name" . -}}
{{ include "store.secretEnv" (dict "ctx" . "env" "DB_PASSWORD" "key" "db-password") }}
# $(DB_PASSWORD) is expanded by the kubelet from the variable above; the password
# never appears in the pod spec. Generated secrets are alphanumeric, so URL-safe.
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(DB_PASSWORD)@%s-postgresql:5432/%s?sslmode=disable" .Values.postgresql.username $id .Values.postgresql.database | quote }}
{{ include "store.secretEnv" (dict "ctx" . "env" "JWT_SECRET" "key" "jwt-secret") }}
{{ include "store.secretEnv" (dict "ctx" . "env" "COOKIE_SECRET" "key" "cookie-secret") }}
{{ include "store.secretEnv" (dict "ctx" . "env" "MEDUSA_ADMIN_PASSWORD" "key" "admin-password") }}
- name: MEDUSA_ADMIN_EMAIL
  value: {{ .Values.medusa.adminEmail | quote }}
- name: MEDUSA_BACKEND_URL
  value: {{ .Values.medusa.backendUrl | quote }}
- name: STORE_CORS
  value: {{ .Values.medusa.storeCors | quote }}
- name: ADMIN_CORS
  value: {{ .Values.medusa.adminCors | quote }}
- name: AUTH_CORS
  value: {{ .Values.medusa.authCors | quote }}
- name: MEDUSA_WORKER_MODE
  value: {{ .Values.medusa.workerMode | quote }}
- name: DISABLE_MEDUSA_ADMIN
  value: "false"
- name: NODE_ENV
  value: production
# A Secure session cookie is dropped by browsers over plain HTTP.
- name: MEDUSA_COOKIE_SECURE
  value: {{ .Values.ingress.tls | quote }}
- name: PORT
  value: "9000"
- name: HOME
  value: /tmp
{{- end -}}
