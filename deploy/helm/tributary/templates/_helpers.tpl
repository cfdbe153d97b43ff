{{/* The chart's name, cut to the 63 characters a label value may hold. */}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The objects' base name: the release name, with the chart's unless it already holds it. */}}
{{- define "tributary.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "tributary.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tributary
{{- end -}}

{{/* Selector labels of one component (api, worker, migrate): call with (list . "api"). */}}
{{- define "tributary.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "tributary.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "tributary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tributary.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The environment every Tributary binary reads (config.FromEnv); secrets by reference only. */}}
{{- define "tributary.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret names the Secret with DATABASE_URL" .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
{{- if .Values.database.reportingExistingSecret }}
- name: REPORTING_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.reportingExistingSecret }}
      key: {{ .Values.database.reportingKey }}
{{- end }}
- name: TRIBUTARY_SECRET_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ required "secretKeys.existingSecret names the Secret with TRIBUTARY_SECRET_KEYS" .Values.secretKeys.existingSecret }}
      key: {{ .Values.secretKeys.keysKey }}
{{- with .Values.secretKeys.activeKeyId }}
- name: TRIBUTARY_SECRET_KEY_ID
  value: {{ . | quote }}
{{- end }}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is the Temporal frontend's host:port" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
- name: TEMPORAL_UI_URL
  value: {{ .Values.temporal.uiURL | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: RUN_RETENTION_DAYS
  value: {{ .Values.config.runRetentionDays | int | quote }}
- name: ACTIVITY_HEARTBEAT_TIMEOUT
  value: {{ .Values.config.activityHeartbeatTimeout | quote }}
- name: MAX_UPLOAD_BYTES
  value: {{ .Values.config.maxUploadBytes | int64 | quote }}
- name: UPLOAD_TIMEOUT
  value: {{ .Values.config.uploadTimeout | quote }}
{{- with .Values.config.trustedProxies }}
- name: TRUSTED_PROXIES
  value: {{ join "," . | quote }}
{{- end }}
- name: TMPDIR
  value: /tmp
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by the API server, the worker and the migrations Job. */}}
{{- define "tributary.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . }}
{{- end }}
securityContext:
{{ toYaml .Values.podSecurityContext | indent 2 }}
{{- end -}}

{{/* A PodDisruptionBudget that cannot block every eviction: call with (list . "api" .Values.api). */}}
{{- define "tributary.pdb" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index . 2 -}}
{{- if $v.podDisruptionBudget.enabled }}
{{- $min := $v.replicaCount | int -}}
{{- if and (hasKey $v "autoscaling") $v.autoscaling.enabled -}}
{{- $min = $v.autoscaling.minReplicas | int -}}
{{- end -}}
{{- if and (not (kindIs "string" $v.podDisruptionBudget.minAvailable)) (ge ($v.podDisruptionBudget.minAvailable | int) $min) -}}
{{- fail (printf "%s.podDisruptionBudget.minAvailable (%d) must be below the %s's replicas (%d), or no node could ever be drained" $component ($v.podDisruptionBudget.minAvailable | int) $component $min) -}}
{{- end }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "tributary.fullname" $ }}-{{ $component }}
  labels:
    {{- include "tributary.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
spec:
  minAvailable: {{ $v.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "tributary.selectorLabels" (list $ $component) | nindent 6 }}
{{- end }}
{{- end -}}
