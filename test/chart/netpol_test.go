package chart

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// netpolValues turns networkPolicy on with the given peers (nil leaves the
// metrics peers at their default).
func netpolValues(apiServer, metrics []any) map[string]any {
	np := map[string]any{"enabled": true, "apiServer": apiServer}
	if metrics != nil {
		np["metrics"] = metrics
	}
	return map[string]any{"networkPolicy": np}
}

var (
	controlPlaneCIDR = map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/24", "except": []any{"10.0.0.128/25"}}}
	controlPlaneV6   = map[string]any{"ipBlock": map[string]any{"cidr": "fd00:10::/64"}}
	apiServerPods    = map[string]any{
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}},
		"podSelector":       map[string]any{"matchLabels": map[string]any{"component": "kube-apiserver"}},
	}
	prometheus = map[string]any{
		"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"monitoring"}}}},
		"podSelector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "prometheus"}},
	}
)

// The policy's renders join every structural test (lint, strict decoding)
// and the server-side dry run, which checks them against the real API
// server's validation of NetworkPolicy.
func init() {
	valueSets["network policy, control plane CIDRs"] = netpolValues([]any{controlPlaneCIDR, controlPlaneV6}, nil)
	valueSets["network policy, API server pods and a metrics peer, other ports"] = map[string]any{
		"networkPolicy": map[string]any{"enabled": true, "apiServer": []any{apiServerPods}, "metrics": []any{prometheus}},
		"webhook":       map[string]any{"port": 10443},
		"metrics":       map[string]any{"port": 9090},
	}
}

func networkPolicy(t *testing.T, r *Rendered) *networkingv1.NetworkPolicy {
	t.Helper()
	ps := r.OfKind("NetworkPolicy")
	if len(ps) != 1 {
		t.Fatalf("rendered %d NetworkPolicies, want 1", len(ps))
	}
	return ps[0].Typed.(*networkingv1.NetworkPolicy)
}

func containerPort(t *testing.T, d *appsv1.Deployment, name string) int32 {
	t.Helper()
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("the webhook container has no port %q", name)
	return 0
}

// peers decodes values-shaped peers through the API type, so that they can
// be compared with what the policy renders.
func peers(t *testing.T, vals []any) []networkingv1.NetworkPolicyPeer {
	t.Helper()
	var out []networkingv1.NetworkPolicyPeer
	for _, v := range vals {
		m := v.(map[string]any)
		var p networkingv1.NetworkPolicyPeer
		if ib, ok := m["ipBlock"].(map[string]any); ok {
			p.IPBlock = &networkingv1.IPBlock{CIDR: ib["cidr"].(string)}
			for _, e := range asSlice(ib["except"]) {
				p.IPBlock.Except = append(p.IPBlock.Except, e.(string))
			}
		}
		for key, dst := range map[string]**metav1.LabelSelector{"namespaceSelector": &p.NamespaceSelector, "podSelector": &p.PodSelector} {
			sel, ok := m[key].(map[string]any)
			if !ok {
				continue
			}
			ls := &metav1.LabelSelector{}
			if ml, ok := sel["matchLabels"].(map[string]any); ok {
				ls.MatchLabels = map[string]string{}
				for k, v := range ml {
					ls.MatchLabels[k] = v.(string)
				}
			}
			for _, e := range asSlice(sel["matchExpressions"]) {
				em := e.(map[string]any)
				r := metav1.LabelSelectorRequirement{Key: em["key"].(string), Operator: metav1.LabelSelectorOperator(em["operator"].(string))}
				for _, v := range asSlice(em["values"]) {
					r.Values = append(r.Values, v.(string))
				}
				ls.MatchExpressions = append(ls.MatchExpressions, r)
			}
			*dst = ls
		}
		out = append(out, p)
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// The policy isolates exactly the webhook's pods (the Deployment's own
// selector) for ingress and admits: the API-server peers to the container
// port the Deployment serves admission on, the metrics peers to the metrics
// port, and nothing else — no rule without peers (which would admit every
// source) and no rule for another port. Whatever webhook.port and
// metrics.port are, the policy follows them. Egress is not restricted.
func TestNetworkPolicyAdmitsOnlyTheConfiguredPeersToEachPort(t *testing.T) {
	for _, c := range []struct {
		name               string
		values             map[string]any
		apiServer, metrics []any
	}{
		{"CIDRs, no metrics peers", valueSets["network policy, control plane CIDRs"], []any{controlPlaneCIDR, controlPlaneV6}, nil},
		{"pods, metrics peer, other ports", valueSets["network policy, API server pods and a metrics peer, other ports"], []any{apiServerPods}, []any{prometheus}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustRender(t, c.values)
			d, np := deployment(t, r), networkPolicy(t, r)
			if np.Namespace != Namespace {
				t.Errorf("namespace %q, want the release namespace %q", np.Namespace, Namespace)
			}
			if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) || len(np.Spec.PodSelector.MatchExpressions) != 0 {
				t.Errorf("podSelector %v, want the Deployment's selector %v", np.Spec.PodSelector, d.Spec.Selector.MatchLabels)
			}
			if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policyTypes %v, want only Ingress (egress is left alone)", np.Spec.PolicyTypes)
			}
			if len(np.Spec.Egress) != 0 {
				t.Errorf("egress rules %v", np.Spec.Egress)
			}
			want := map[int32][]networkingv1.NetworkPolicyPeer{containerPort(t, d, "webhook"): peers(t, c.apiServer)}
			if len(c.metrics) > 0 {
				want[containerPort(t, d, "metrics")] = peers(t, c.metrics)
			}
			got := map[int32][]networkingv1.NetworkPolicyPeer{}
			for i, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("ingress rule %d has no peers: it admits every source", i)
				}
				if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.Type != intstr.Int || rule.Ports[0].EndPort != nil {
					t.Fatalf("ingress rule %d: ports %v, want one numbered port", i, rule.Ports)
				}
				if p := rule.Ports[0].Protocol; p == nil || *p != "TCP" {
					t.Errorf("ingress rule %d: protocol %v, want TCP", i, p)
				}
				got[rule.Ports[0].Port.IntVal] = append(got[rule.Ports[0].Port.IntVal], rule.From...)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ingress by port:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestNetworkPolicyIsOffByDefault(t *testing.T) {
	if n := len(mustRender(t, nil).OfKind("NetworkPolicy")); n != 0 {
		t.Errorf("the defaults render %d NetworkPolicies", n)
	}
	// Peers alone do not turn it on.
	v := netpolValues([]any{controlPlaneCIDR}, nil)
	v["networkPolicy"].(map[string]any)["enabled"] = false
	if n := len(mustRender(t, v).OfKind("NetworkPolicy")); n != 0 {
		t.Errorf("enabled=false with peers renders %d NetworkPolicies", n)
	}
}

// A policy with no API-server peer would isolate the webhook's pods and
// admit no one: with failurePolicy Fail every annotated pod would then be
// refused. The chart refuses it at install, saying what to set.
func TestNetworkPolicyWithoutAnAPIServerPeerIsRefused(t *testing.T) {
	for _, v := range []map[string]any{
		netpolValues(nil, nil),
		netpolValues([]any{}, []any{prometheus}),
	} {
		_, err := Render(v)
		if err == nil {
			t.Fatalf("%v rendered", v)
		}
		for _, want := range []string{"networkPolicy.apiServer", "ipBlock"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error does not say %q: %v", v, want, err)
			}
		}
	}
}

// The schema refuses peers the API server would refuse (and a few it would
// take but that defeat the policy), naming the value, at install rather than
// as a failed apply.
func TestNetworkPolicySchemaRejectsBadPeers(t *testing.T) {
	ns := map[string]any{"matchLabels": map[string]any{"a": "b"}}
	for _, peer := range []any{
		map[string]any{},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.256/24"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/33"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0"}}, // every pod too
		map[string]any{"ipBlock": map[string]any{"cidr": "::/0"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "fd00::/129"}},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8 "}},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8", "except": []any{"x"}}},
		map[string]any{"ipBlock": map[string]any{}},
		map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}, "namespaceSelector": ns}, // exclusive in the API
		map[string]any{"namespaceSelector": map[string]any{}},                                    // every pod of every namespace
		map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "a", "operator": "Is"}}}},
		map[string]any{"podSelector": map[string]any{"matchLabel": map[string]any{"a": "b"}}},
		map[string]any{"serviceAccount": "x"},
		"10.0.0.0/8",
	} {
		for _, key := range []string{"apiServer", "metrics"} {
			v := netpolValues([]any{controlPlaneCIDR}, nil)
			v["networkPolicy"].(map[string]any)[key] = []any{peer}
			if _, err := Render(v); err == nil || !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), "networkPolicy/"+key) {
				t.Errorf("networkPolicy.%s=[%v]: %v; want a schema violation naming it", key, peer, err)
			}
		}
	}
	for _, c := range []struct {
		path  string
		value any
	}{
		{"networkPolicy.enabled", "yes"},
		{"networkPolicy.apiServer", "10.0.0.0/24"},
		{"networkPolicy.egress", true},
	} {
		if _, err := Render(set(c.path, c.value)); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s=%v: %v; want a schema violation", c.path, c.value, err)
		}
	}
	// Forms the API server takes are accepted.
	for _, cidr := range []string{"192.168.0.0/16", "10.1.2.3/32", "2001:db8::/32", "fd00:1:2:3::1/128", "::ffff:10.0.0.0/104"} {
		mustRender(t, netpolValues([]any{map[string]any{"ipBlock": map[string]any{"cidr": cidr}}}, nil))
	}
	mustRender(t, netpolValues([]any{map[string]any{"podSelector": ns}}, []any{map[string]any{"namespaceSelector": ns}}))
}
