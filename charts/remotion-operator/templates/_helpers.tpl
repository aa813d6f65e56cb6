{{/* The chart's name, or nameOverride: the app.kubernetes.io/name label and part of the full name. */}}
{{- define "remotion-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
  Full name, the prefix of every object's name: fullnameOverride, else the release name with
  the name appended unless already in it.
*/}}
{{- define "remotion-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "remotion-operator.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "remotion-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "remotion-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every object's labels: the chart's own, and commonLabels (which cannot replace them). */}}
{{- define "remotion-operator.labels" -}}
{{- $own := include "remotion-operator.selectorLabels" . | fromYaml -}}
{{- $_ := set $own "app.kubernetes.io/version" .Chart.AppVersion -}}
{{- $_ := set $own "app.kubernetes.io/managed-by" .Release.Service -}}
{{- $_ := set $own "helm.sh/chart" (printf "%s-%s" .Chart.Name .Chart.Version) -}}
{{- toYaml (merge $own (.Values.commonLabels | default dict)) -}}
{{- end -}}

{{- define "remotion-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "remotion-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "remotion-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
  A Kubernetes quantity ("1Gi", "1.5G", "500Mi", "1073741824") in bytes, for comparing sizes the
  schema has already checked (^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$).
*/}}
{{- define "remotion-operator.bytes" -}}
{{- $quantity := toString . -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity -}}
{{- $unit := trimPrefix $number $quantity -}}
{{- $factors := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if not (hasKey $factors $unit) -}}
{{- fail (printf "%q is not a size this chart understands (e.g. 1Gi, 500Mi)" $quantity) -}}
{{- end -}}
{{- mulf (float64 $number) (get $factors $unit) | ceil | int64 -}}
{{- end -}}

{{/*
  The scratch volume full plus the container's rotated logs (kubelet default: 5 x 10Mi), in
  bytes: the ephemeral storage the pod may use before the operator's site limits (derived from
  scratch.sizeLimit) are reached. Requests and limits of ephemeral-storage must be at least this.
*/}}
{{- define "remotion-operator.ephemeralStorageFloor" -}}
{{- add (include "remotion-operator.bytes" .Values.scratch.sizeLimit | int64) 67108864 -}}
{{- end -}}

{{/*
  The container's resources: the values, with an ephemeral-storage request of the floor above
  (in Mi, rounded up) unless one is given; a given request or limit below it is refused.
*/}}
{{- define "remotion-operator.resources" -}}
{{- $resources := deepCopy (.Values.resources | default dict) -}}
{{- $floor := include "remotion-operator.ephemeralStorageFloor" . | int64 -}}
{{- $floorMi := divf $floor 1048576 | ceil | int64 -}}
{{- range $kind := list "requests" "limits" -}}
{{- $given := index ($resources | default dict) $kind | default dict -}}
{{- with index $given "ephemeral-storage" -}}
{{- if lt (include "remotion-operator.bytes" . | int64) $floor -}}
{{- fail (printf "resources.%s.ephemeral-storage %s is below scratch.sizeLimit %s + 64Mi of logs (%dMi): the kubelet would evict the operator before /tmp reaches the size its site limits derive from" $kind (toString .) (toString $.Values.scratch.sizeLimit) $floorMi) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $requests := get $resources "requests" | default dict -}}
{{- if not (hasKey $requests "ephemeral-storage") -}}
{{- $_ := set $requests "ephemeral-storage" (printf "%dMi" $floorMi) -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- toYaml $resources -}}
{{- end -}}

{{/*
  A series selector for the alert rules: (list $ "metric_name" "matchers"), with
  prometheusRule.selector added to the matchers, e.g. remotion_operator_renders{phase="Queued",namespace="ops"}.
*/}}
{{- define "remotion-operator.series" -}}
{{- $root := index . 0 -}}
{{- $matchers := compact (list (index . 2) $root.Values.prometheusRule.selector) | join "," -}}
{{- index . 1 -}}{{- with $matchers -}}{ {{- . -}} }{{- end -}}
{{- end -}}
