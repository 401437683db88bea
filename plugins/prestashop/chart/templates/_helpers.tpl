{{/*
Labels on every object and pod template. The host labels what it applies with the store id;
the chart does too, so the ReplicaSets and pods the controllers make carry it as well.
*/}}
{{- define "prestashop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storeplane
storeplane.io/store-id: {{ .Values.storeplane.storeId | quote }}
{{- end -}}

{{/*
Selector labels of one workload: dict "ctx" $ "name" "prestashop" "component" "web".
name + component differ between the shop and its database, so selectors never overlap.
*/}}
{{- define "prestashop.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ required "storeplane.storeId is set by the host" .ctx.Values.storeplane.storeId | quote }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A secretKeyRef env var: dict "ctx" $ "env" "DB_PASSWD" "key" "db-password". */}}
{{- define "prestashop.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required "storeplane.credentialsSecret is set by the host" .ctx.Values.storeplane.credentialsSecret }}
      key: {{ .key }}
{{- end -}}

{{/* Claim spec body: dict "ctx" $ "size" "2Gi". An empty storage class: the cluster's default. */}}
{{- define "prestashop.pvcSpec" -}}
accessModes: ["ReadWriteOnce"]
{{- with .ctx.Values.storeplane.storageClass }}
storageClassName: {{ . }}
{{- end }}
resources:
  requests:
    storage: {{ .size }}
{{- end -}}
