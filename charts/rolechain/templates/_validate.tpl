{{/*
Checks of values that become webhook flags and that values.schema.json
cannot express, so that `helm install` / `helm upgrade` refuses what the
webhook would refuse at start (it would crash-loop instead). The schema
checks each value's form; these check bounds and relations between values.
test/chart/flags_test.go runs the webhook's own flag validation on the
rendered args to keep the two in agreement.
*/}}

{{/*
rolechain.durationSeconds: the seconds of a duration in the form the schema
takes for sidecar.defaultTokenExpiration (whole h, m and s parts, such as
1h30m or 3600s).
*/}}
{{- define "rolechain.durationSeconds" -}}
{{- $total := 0 -}}
{{- $unit := dict "h" 3600 "m" 60 "s" 1 -}}
{{- range $part := regexFindAll "[0-9]+[hms]" . -1 -}}
{{- $n := regexFind "^[0-9]+" $part | atoi -}}
{{- $total = add $total (mul $n (get $unit (regexFind "[hms]$" $part))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
rolechain.quantityValue: a quantity in the form the schema takes for the
sidecar's resources (a decimal number with an optional SI or binary suffix),
as a floating-point number of base units. Only used to compare a request
with a limit; float64 holds every such value within one part in 10^15.
*/}}
{{- define "rolechain.quantityValue" -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $suffix := trimPrefix $num . -}}
{{- $factor := get (dict "" "1" "n" "1e-9" "u" "1e-6" "m" "1e-3" "k" "1e3" "M" "1e6" "G" "1e9" "T" "1e12" "P" "1e15" "E" "1e18" "Ki" "1024" "Mi" "1048576" "Gi" "1073741824" "Ti" "1099511627776" "Pi" "1125899906842624" "Ei" "1152921504606846976") $suffix -}}
{{- mulf (float64 $num) (float64 $factor) -}}
{{- end -}}

{{/*
rolechain.sessionTagKeys: --session-tag-keys, the three keys comma-separated
(a comma is not in a key's character set, so the schema keeps it out).
*/}}
{{- define "rolechain.sessionTagKeys" -}}
{{- $k := .Values.sidecar.sessionTagKeys -}}
{{- printf "%s,%s,%s" $k.namespace $k.pod $k.serviceAccount -}}
{{- end -}}

{{- define "rolechain.validateWebhookFlags" -}}
{{- $s := .Values.sidecar -}}
{{- /* IAM compares tag keys case-insensitively, and STS refuses a request
that sets one twice: the three keys must differ once folded as
contract.FoldTagKey folds them (upper, then lower case). */ -}}
{{- $seen := dict -}}
{{- range $name := list "namespace" "pod" "serviceAccount" -}}
{{- $key := get $s.sessionTagKeys $name -}}
{{- if hasKey $seen (lower (upper $key)) -}}
{{- fail (printf "sidecar.sessionTagKeys.%s=%s: is sidecar.sessionTagKeys.%s to IAM, which compares tag keys case-insensitively; the three keys must differ" $name $key (get $seen (lower (upper $key)))) -}}
{{- end -}}
{{- $_ := set $seen (lower (upper $key)) $name -}}
{{- end -}}
{{- $secs := include "rolechain.durationSeconds" $s.defaultTokenExpiration | atoi -}}
{{- if or (lt $secs 600) (gt $secs 4294967295) -}}
{{- fail (printf "sidecar.defaultTokenExpiration=%s (%d seconds): must be at least 10m (the kubelet's minimum for a projected token) and at most 4294967295s (the API's bound)" $s.defaultTokenExpiration $secs) -}}
{{- end -}}
{{- if and $s.memoryRequest $s.memoryLimit -}}
{{- $req := include "rolechain.quantityValue" $s.memoryRequest | float64 -}}
{{- $lim := include "rolechain.quantityValue" $s.memoryLimit | float64 -}}
{{- if gt $req $lim -}}
{{- fail (printf "sidecar.memoryRequest=%s: must not exceed sidecar.memoryLimit=%s (the API server refuses a pod whose request exceeds its limit)" $s.memoryRequest $s.memoryLimit) -}}
{{- end -}}
{{- end -}}
{{- with .Values.webhook.clientCA -}}
{{- if .name -}}
{{- $ca := include "rolechain.clientCADir" $ -}}
{{- $dir := clean $.Values.webhook.certDir -}}
{{- if or (eq $dir $ca) (hasPrefix (printf "%s/" $dir) $ca) (eq $dir "/") (hasPrefix (printf "%s/" $ca) $dir) -}}
{{- fail (printf "webhook.certDir=%s: must not hold or lie inside %s, where webhook.clientCA is mounted (the mounts would overlap)" $.Values.webhook.certDir $ca) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
