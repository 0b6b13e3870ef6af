package chart

import (
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
)

// The guard's renders join every structural test (lint, strict decoding).
func init() {
	valueSets["guard"] = map[string]any{"guard": map[string]any{"enabled": true}}
	valueSets["guard, every namespace, pinned sidecar"] = map[string]any{
		"guard":   map[string]any{"enabled": true, "namespaces": "all", "stsAudiences": []any{"sts.example.internal"}, "excludedNamespaces": []any{}},
		"sidecar": map[string]any{"image": map[string]any{"repository": "docker.io/rolechain/sidecar", "digest": "sha256:" + strings.Repeat("cd", 32)}, "defaultAudience": "rolechain.example"},
		"webhook": map[string]any{"excludedNamespaces": []any{"monitoring"}},
	}
}

func guardObjects(t *testing.T, values map[string]any) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	r := mustRender(t, values)
	ps, bs := r.OfKind("ValidatingAdmissionPolicy"), r.OfKind("ValidatingAdmissionPolicyBinding")
	if len(ps) != 1 || len(bs) != 1 {
		t.Fatalf("rendered %d policies and %d bindings; want one of each", len(ps), len(bs))
	}
	return ps[0].Typed.(*admissionv1.ValidatingAdmissionPolicy), bs[0].Typed.(*admissionv1.ValidatingAdmissionPolicyBinding)
}

func variable(t *testing.T, p *admissionv1.ValidatingAdmissionPolicy, name string) string {
	t.Helper()
	for _, v := range p.Spec.Variables {
		if v.Name == name {
			return v.Expression
		}
	}
	t.Fatalf("the policy has no variable %q", name)
	return ""
}

func TestGuardIsOffByDefault(t *testing.T) {
	r := mustRender(t, nil)
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if n := len(r.OfKind(kind)); n != 0 {
			t.Errorf("the defaults render %d %s", n, kind)
		}
	}
}

func TestGuardDeniesAndFailsClosedOnPodsAndEphemeralContainers(t *testing.T) {
	p, b := guardObjects(t, valueSets["guard"])
	if b.Spec.PolicyName != p.Name {
		t.Errorf("binding %s binds %q, not the policy %q", b.Name, b.Spec.PolicyName, p.Name)
	}
	if !slices.Equal(b.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
		t.Errorf("validationActions %v; want [Deny]", b.Spec.ValidationActions)
	}
	if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionv1.Fail {
		t.Errorf("failurePolicy %v; want Fail (an expression error must deny)", p.Spec.FailurePolicy)
	}
	rules := p.Spec.MatchConstraints.ResourceRules
	if len(rules) != 1 {
		t.Fatalf("resource rules %v; want one", rules)
	}
	r := rules[0]
	if !slices.Equal(r.Resources, []string{"pods", "pods/ephemeralcontainers"}) ||
		!slices.Equal(r.Operations, []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}) {
		t.Errorf("the policy matches %v on %v; want CREATE and UPDATE of pods and pods/ephemeralcontainers", r.Operations, r.Resources)
	}
	names := map[string]bool{}
	for _, v := range p.Spec.Validations {
		if v.MessageExpression == "" || v.Reason == nil || *v.Reason != "Forbidden" {
			t.Errorf("validation %q has no message expression or reason Forbidden", v.Expression)
		}
		_, rest, _ := strings.Cut(v.MessageExpression, "rolechain guard (")
		rule, _, _ := strings.Cut(rest, ")")
		names[rule] = true
	}
	for _, want := range []string{"sts-token-outside-rolechain", "sts-token-volume-name", "sts-token-mount", "ephemeral-sts-token", "ephemeral-target-sidecar", "sidecar-image", "ephemeral-sidecar-image"} {
		if !names[want] {
			t.Errorf("no validation names the rule %q (have %v)", want, names)
		}
	}
	if sel := b.Spec.MatchResources.NamespaceSelector; sel == nil || len(sel.MatchExpressions) != 1 ||
		!slices.Equal(sel.MatchExpressions[0].Values, []string{"kube-system"}) || sel.MatchExpressions[0].Operator != "NotIn" {
		t.Errorf("the binding's namespaceSelector %v; want kube-system left out", sel)
	}
}

func TestGuardFollowsTheSidecarImageAudiencesAndServedNamespaces(t *testing.T) {
	p, b := guardObjects(t, valueSets["guard"])
	for name, want := range map[string]string{
		"guarded":             "'rolechain.dev/allowed-role-arns' in namespaceObject.metadata.annotations",
		"sidecarImage":        `"rolechain/sidecar:0.1.0"`,
		"stsAudiences":        `["sts.amazonaws.com","sts.amazonaws.com.cn"]`,
		"served":              `["kube-system","rolechain-system"]`,
		"sidecarImagePattern": `(library/)?rolechain/sidecar(:[^/@]*)?(@.*)?$`,
	} {
		if got := variable(t, p, name); !strings.Contains(got, want) {
			t.Errorf("defaults: variable %s = %s; want it to contain %s", name, got, want)
		}
	}

	p, b = guardObjects(t, valueSets["guard, every namespace, pinned sidecar"])
	for name, want := range map[string]string{
		"guarded":      "true",
		"sidecarImage": `"docker.io/rolechain/sidecar@sha256:` + strings.Repeat("cd", 32) + `"`,
		// The chart's default audience is an STS audience whatever the list says.
		"stsAudiences": `["rolechain.example","sts.example.internal"]`,
		"served":       `["kube-system","monitoring","rolechain-system"]`,
		// docker.io/ is stripped, so every spelling of the repository matches.
		"sidecarImagePattern": `^((docker\\.io|index\\.docker\\.io|registry-1\\.docker\\.io)/)?(library/)?rolechain/sidecar(`,
	} {
		if got := variable(t, p, name); !strings.Contains(got, want) {
			t.Errorf("every namespace: variable %s = %s; want it to contain %s", name, got, want)
		}
	}
	if b.Spec.MatchResources != nil {
		t.Errorf("guard.excludedNamespaces [] still renders a namespaceSelector: %v", b.Spec.MatchResources)
	}
}

func TestGuardRefusesAWebhookThatMayBeSkipped(t *testing.T) {
	_, err := Render(map[string]any{"guard": map[string]any{"enabled": true}, "webhook": map[string]any{"failurePolicy": "Ignore"}})
	if err == nil || !strings.Contains(err.Error(), "guard.enabled needs webhook.failurePolicy Fail") {
		t.Fatalf("guard with failurePolicy Ignore: %v; want a refusal naming both values", err)
	}
}

func TestGuardSchemaRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		path  string
		value any
	}{
		{"guard.enabled", "yes"},
		{"guard.namespaces", "annotated"},
		{"guard.stsAudiences", []any{"sts.amazonaws.com", "sts.amazonaws.com"}},
		{"guard.stsAudiences", []any{`a"b`}}, // would end the CEL string literal
		{"guard.stsAudiences", []any{""}},
		{"guard.excludedNamespaces", []any{"Bad_NS"}},
		{"guard.extra", true},
	} {
		if _, err := Render(set(c.path, c.value)); err == nil || !strings.Contains(err.Error(), "schema") {
			t.Errorf("%s=%v: %v; want a schema violation", c.path, c.value, err)
		}
	}
}
