{{/* Base name of every object: the release name, cut to leave room for component suffixes. */}}
{{- define "flowlens.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "flowlens.labels" -}}
app.kubernetes.io/part-of: flowlens
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "agent"). */}}
{{- define "flowlens.selectorLabels" -}}
app.kubernetes.io/name: flowlens-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "flowlens.componentLabels" -}}
{{ include "flowlens.labels" .root }}
{{ include "flowlens.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flowlens.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "flowlens.autopilot" -}}
{{- if eq .Values.profile "autopilot" }}true{{ end -}}
{{- end -}}

{{/* On Autopilot the relay lives next to the managed relay's client certificate Secret. */}}
{{- define "flowlens.relayNamespace" -}}
{{- if include "flowlens.autopilot" . }}{{ .Values.managedRelay.namespace }}{{ else }}{{ .Release.Namespace }}{{ end -}}
{{- end -}}

{{/* TLS server names the certificates carry and the clients verify. */}}
{{- define "flowlens.agentServerName" -}}
agent.{{ .Release.Name }}.flowlens.internal
{{- end -}}
{{- define "flowlens.relayServerName" -}}
relay.{{ .Release.Name }}.flowlens.internal
{{- end -}}

{{- define "flowlens.relayService" -}}
{{ include "flowlens.fullname" . }}-relay.{{ include "flowlens.relayNamespace" . }}.svc
{{- end -}}

{{/* Secret names, shared by the generated and the cert-manager modes. */}}
{{- define "flowlens.secret.ca" -}}{{ include "flowlens.fullname" . }}-ca{{- end -}}
{{- define "flowlens.secret.agentServer" -}}{{ include "flowlens.fullname" . }}-agent-tls{{- end -}}
{{- define "flowlens.secret.relayClient" -}}{{ include "flowlens.fullname" . }}-relay-client-tls{{- end -}}
{{- define "flowlens.secret.relayServer" -}}{{ include "flowlens.fullname" . }}-relay-tls{{- end -}}
{{- define "flowlens.secret.uiClient" -}}{{ include "flowlens.fullname" . }}-ui-client-tls{{- end -}}

{{/* Container hardening shared by the relay and the UI, which need no privileges at all. */}}
{{- define "flowlens.restrictedSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "flowlens.restrictedPodSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Fails rendering early with a message that names the value to change. */}}
{{- define "flowlens.validate" -}}
{{- if and (include "flowlens.autopilot" .) .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name is empty: on profile=autopilot the relay runs in the managed namespace, so point issuerRef at a ClusterIssuer" -}}
{{- end -}}
{{- if and (eq .Values.ui.auth.mode "iap") (not .Values.ui.auth.iapAudience) -}}
{{- fail "ui.auth.iapAudience is empty: ui.auth.mode=iap needs the IAP backend service audience (/projects/<number>/global/backendServices/<id>)" -}}
{{- end -}}
{{- end -}}

{{/* The agent's Observer port: fixed, because the relay's Kubernetes discovery dials 4244. */}}
{{- define "flowlens.agentPort" -}}4244{{- end -}}
