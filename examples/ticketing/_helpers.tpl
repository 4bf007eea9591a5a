{{- /* Shared snippets: labels and the standard container environment. */ -}}
{{- define "labels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: ticketing
{{- end -}}

{{- define "env" -}}
- name: ENVIRONMENT
  value: {{ .Environment | default "development" | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: database
      key: url
{{- end -}}
