{{/* The chart's name, and the release's full name (at most 63 characters, as labels allow). */}}
{{- define "regapi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "regapi.fullname" -}}
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

{{/* Labels of every object; selectorLabels, with a component, select one kind of pod. */}}
{{- define "regapi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "regapi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Call with (dict "root" $ "component" "api"). */}}
{{- define "regapi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regapi.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "regapi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "regapi.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "regapi.secretName" -}}
{{- default (include "regapi.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "regapi.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
HASH_CONCURRENCY of the API: config's when set, else the CPU limit (or request) rounded up,
since regapi's own default, the number of CPUs, counts the node's and not the container's.
*/}}
{{- define "regapi.hashConcurrency" -}}
{{- $res := .Values.api.resources | default dict -}}
{{- $cpu := "" -}}
{{- range list "limits" "requests" -}}
{{- $q := get ($res | default dict) . | default dict -}}
{{- if and (not $cpu) (hasKey $q "cpu") -}}
{{- $cpu = toString $q.cpu -}}
{{- end -}}
{{- end -}}
{{- if $cpu -}}
{{- $cores := 0.0 -}}
{{- if hasSuffix "m" $cpu -}}
{{- $cores = divf (trimSuffix "m" $cpu | float64) 1000 -}}
{{- else -}}
{{- $cores = float64 $cpu -}}
{{- end -}}
{{- max 1 (ceil $cores | int) -}}
{{- end -}}
{{- end -}}

{{/*
The environment of a regapi container: the settings (config, then the component's own over
it), then the secrets, each from the existing Secret by reference (never a value), the
optional ones marked optional. Call with (dict "root" $ "component" "api"|"worker"|"migrate").
*/}}
{{- define "regapi.env" -}}
{{- $root := .root -}}
{{- $settings := dict -}}
{{- range $k, $v := $root.Values.config -}}
{{- $_ := set $settings $k $v -}}
{{- end -}}
{{- if eq .component "api" -}}
{{- range $k, $v := $root.Values.api.config -}}
{{- $_ := set $settings $k $v -}}
{{- end -}}
{{- $_ := set $settings "HTTP_ADDR" (printf ":%v" $root.Values.api.port) -}}
{{- $hc := include "regapi.hashConcurrency" $root -}}
{{- if and $hc (not (hasKey $settings "HASH_CONCURRENCY")) -}}
{{- $_ := set $settings "HASH_CONCURRENCY" $hc -}}
{{- end -}}
{{- else if eq .component "worker" -}}
{{- range $k, $v := $root.Values.worker.config -}}
{{- $_ := set $settings $k $v -}}
{{- end -}}
{{- end -}}
{{- if or $root.Values.emailTemplates.en $root.Values.emailTemplates.fr -}}
{{- $_ := set $settings "EMAIL_TEMPLATES_DIR" "/etc/regapi/emails" -}}
{{- end -}}
{{- range $k := keys $settings | sortAlpha }}
- name: {{ $k }}
  value: {{ get $settings $k | toString | quote }}
{{- end }}
{{- $secret := include "regapi.secretName" $root -}}
{{- range $var := list "DATABASE_URL" "CODE_SECRET" "CODE_SECRET_PREVIOUS" "SMTP_URL" "WEBHOOK_SECRET" "EVENTS_WEBHOOK_SECRET" }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ get $root.Values.secrets.keys $var | default $var }}
      {{- if not (has $var (list "DATABASE_URL" "CODE_SECRET")) }}
      optional: true
      {{- end }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The operator's email templates, one ConfigMap volume per language. */}}
{{- define "regapi.templateVolumes" -}}
{{- range $lang := list "en" "fr" }}
{{- with get $.Values.emailTemplates $lang }}
- name: emails-{{ $lang }}
  configMap:
    name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "regapi.templateMounts" -}}
{{- range $lang := list "en" "fr" }}
{{- with get $.Values.emailTemplates $lang }}
- name: emails-{{ $lang }}
  mountPath: /etc/regapi/emails/{{ $lang }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/*
Pod-level settings shared by every regapi pod. Call with (dict "root" $ "hook" true|false): a
hook runs before the release's objects exist, so it may not use the ServiceAccount the chart
creates; it needs none (no token, no Kubernetes API), and takes the namespace's default.
*/}}
{{- define "regapi.podCommon" -}}
{{- $root := .root -}}
{{- if or (not .hook) (not $root.Values.serviceAccount.create) }}
serviceAccountName: {{ include "regapi.serviceAccountName" $root }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- end -}}
