package chart

import (
	"fmt"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// apiCall is one permission: a verb on a resource, cluster-wide or in one
// namespace, on one named object or (name "*") any.
type apiCall struct {
	namespace, group, resource, name, verb string
}

func (c apiCall) String() string {
	scope := "cluster-wide"
	if c.namespace != "" {
		scope = "in " + c.namespace
	}
	return fmt.Sprintf("%s %s.%s/%s %s", c.verb, c.resource, c.group, c.name, scope)
}

// webhookAPICalls lists every API call the webhook makes, read from the
// code (keep it in step when the code changes):
//   - cmd/webhook/app Setup: metadata informers on ServiceAccounts and
//     Namespaces (list, watch), and server.Handler's uncached reads of
//     either on a cache miss (get);
//   - self-managed mode only, webhook/certs Manager: Get, Create and
//     Update of its Secret (ensureSecret), Get and Update of its
//     MutatingWebhookConfiguration (patchCABundle, an Update carrying the
//     resourceVersion read; never a Patch).
//
// Kubernetes cannot scope create by resourceNames (the authorizer is not
// told the name of an object that does not exist yet), nor list and watch
// of a whole collection.
func webhookAPICalls(selfManaged bool, namespace, fullname, secret string) []apiCall {
	calls := []apiCall{}
	for _, res := range []string{"serviceaccounts", "namespaces"} {
		for _, verb := range []string{"get", "list", "watch"} {
			calls = append(calls, apiCall{"", "", res, "*", verb})
		}
	}
	if selfManaged {
		calls = append(calls,
			apiCall{namespace, "", "secrets", secret, "get"},
			apiCall{namespace, "", "secrets", secret, "update"},
			apiCall{namespace, "", "secrets", "*", "create"},
			apiCall{"", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", fullname, "get"},
			apiCall{"", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", fullname, "update"},
		)
	}
	return calls
}

// granted flattens the rendered Roles and ClusterRoles into the calls they
// allow. A wildcard anywhere, or a non-resource URL, is an error.
func granted(t *testing.T, r *Rendered) []apiCall {
	t.Helper()
	var calls []apiCall
	add := func(namespace string, rules []rbacv1.PolicyRule) {
		for _, rule := range rules {
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("grants non-resource URLs %v", rule.NonResourceURLs)
			}
			names := rule.ResourceNames
			if len(names) == 0 {
				names = []string{"*"}
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, n := range names {
						for _, v := range rule.Verbs {
							if g == "*" || res == "*" || v == "*" {
								t.Errorf("grants a wildcard: %+v", rule)
							}
							calls = append(calls, apiCall{namespace, g, res, n, v})
						}
					}
				}
			}
		}
	}
	for _, o := range r.OfKind("ClusterRole") {
		add("", o.Typed.(*rbacv1.ClusterRole).Rules)
	}
	for _, o := range r.OfKind("Role") {
		add(o.U.GetNamespace(), o.Typed.(*rbacv1.Role).Rules)
	}
	return calls
}

// The chart grants exactly the API calls the webhook makes, in both
// certificate modes: nothing the code does not call (issue #21: the
// ClusterRole granted patch on the webhook configuration), and nothing the
// code calls is missing (the webhook would fail at start or on rotation).
func TestRBACGrantsExactlyTheCallsTheWebhookMakes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		values      map[string]any
		selfManaged bool
	}{
		{"self-managed", nil, true},
		{"self-managed, own secret name", map[string]any{"certs": map[string]any{"secretName": "my-tls"}}, true},
		{"cert-manager", map[string]any{"certs": map[string]any{"mode": "cert-manager"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, tc.values)
			a := args(t, deployment(t, r))
			want := webhookAPICalls(tc.selfManaged, a["--service-namespace"], a["--webhook-config-name"], a["--cert-secret-name"])
			got := granted(t, r)
			for _, c := range got {
				if !slices.Contains(want, c) {
					t.Errorf("grants %s, which the webhook never calls", c)
				}
			}
			for _, c := range want {
				if !slices.Contains(got, c) {
					t.Errorf("does not grant %s, which the webhook calls", c)
				}
			}
		})
	}
}
