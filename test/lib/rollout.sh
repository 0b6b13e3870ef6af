# Sourced by test/stack.sh and the e2e phases (needs KUBECTL; webhook_set
# also HELM and ROOT).
#
# webhook_rolled_out waits until the webhook's Deployment has rolled out
# and none of its old replicas is left. `kubectl rollout status` returns
# once the new replicas are available, while the old ones are still
# terminating: the chart's preStop sleep (shutdownDelaySeconds) keeps them
# serving a few seconds more, on purpose, and kube-apiserver's keep-alive
# connections still reach them. An admission right after the rollout could
# then be answered by the old webhook (a pod mutated in native mode right
# after the switch to fallback mode, seen in CI).
webhook_rolled_out() {
  local ns=rolechain-system deploy=rolechain selector want pods count
  "$KUBECTL" -n "$ns" rollout status "deployment/$deploy" --timeout 5m
  selector=$("$KUBECTL" -n "$ns" get deployment "$deploy" \
    -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')
  selector=${selector%,}
  want=$("$KUBECTL" -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.replicas}')
  for _ in $(seq 1 150); do
    # One line per pod: its name and, while it terminates, its deletion time.
    pods=$("$KUBECTL" -n "$ns" get pods -l "$selector" \
      -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}')
    count=$(grep -c . <<<"$pods" || true)
    if [[ $count == "$want" ]] && ! awk 'NF > 1 { found = 1 } END { exit !found }' <<<"$pods"; then
      return 0
    fi
    sleep 2
  done
  printf 'old replicas of deployment/%s still there after 5 min:\n%s\n' "$deploy" "$pods" >&2
  return 1
}

# webhook_set KEY=VALUE upgrades the release with one chart value changed
# and the others kept, and waits until no replica of the old settings is
# left to answer an admission: how the e2e phases switch the webhook.
webhook_set() {
  "$HELM" upgrade rolechain "$ROOT/charts/rolechain" --namespace rolechain-system --reuse-values \
    --set "$1" --wait --timeout 5m >/dev/null
  webhook_rolled_out
}
