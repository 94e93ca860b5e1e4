{{/*
The chart's name, as every object's app.kubernetes.io/name. Object names themselves are fixed (values.yaml says
why), so there is no fullname helper.
*/}}
{{- define "stateful-migration.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stateful-migration.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Helm community's standard labels, on every object. */}}
{{- define "stateful-migration.labels" -}}
helm.sh/chart: {{ include "stateful-migration.chart" . }}
app.kubernetes.io/name: {{ include "stateful-migration.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stateful-migration
{{- end }}

{{/*
The labels that select a component's pods: stable across upgrades (a DaemonSet's or Deployment's selector cannot
change), so no version in them. Call with (dict "root" . "component" "agent").
*/}}
{{- define "stateful-migration.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stateful-migration.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "stateful-migration.componentLabels" -}}
{{ include "stateful-migration.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image reference: repository:tag, or repository:tag@digest when a digest pins it. */}}
{{- define "stateful-migration.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{- define "stateful-migration.defaultSecretRegistries" -}}
{{- join "," .Values.defaultSecretRegistries -}}
{{- end }}

{{/* Scheduling of a component's pods: call with its values (.Values.agent or .Values.hub). */}}
{{- define "stateful-migration.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "stateful-migration.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "stateful-migration.karmadaMode" -}}
{{- if eq .Values.installMode "karmada" }}true{{ end }}
{{- end }}
