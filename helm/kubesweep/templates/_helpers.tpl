{{- define "kubesweep.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubesweep.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubesweep.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubesweep.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubesweep.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kubesweep.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kubesweep.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubesweep.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* kopf's peering object: every replica of every release serving the same sweeps must meet in it. */}}
{{- define "kubesweep.peeringName" -}}
kubesweep
{{- end -}}

{{- define "kubesweep.ha" -}}
{{- if gt (int .Values.replicaCount) 1 -}}true{{- end -}}
{{- end -}}

{{/* The operator's permissions in the namespaces it serves: exactly what it and kopf use
(docs/install.md "Permissions"); tests/packaging checks every verb against that list. */}}
{{- define "kubesweep.rules" -}}
- apiGroups: ["kubesweep.io"]
  resources: ["sweeps"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["kubesweep.io"]
  resources: ["sweeps/status"]
  verbs: ["get", "patch"]
# Never requested: the OwnerReferencesPermissionEnforcement admission plugin (on by default on
# OpenShift) refuses a Job whose ownerReference blocks its Sweep's deletion without it.
- apiGroups: ["kubesweep.io"]
  resources: ["sweeps/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "patch", "deletecollection"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if and (include "kubesweep.ha" .) .Values.watchNamespaces }}
# kopf peering in each served namespace (HA replicas only).
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end -}}
