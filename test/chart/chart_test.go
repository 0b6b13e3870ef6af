package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// valueSets are the renders every structural test runs on: the defaults and
// each non-default branch of the templates.
var valueSets = map[string]map[string]any{
	"defaults":                  nil,
	"cert-manager":              {"certs": map[string]any{"mode": "cert-manager"}},
	"cert-manager with issuer":  {"certs": map[string]any{"mode": "cert-manager", "certManager": map[string]any{"issuerRef": map[string]any{"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}}},
	"service monitor":           {"metrics": map[string]any{"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}}},
	"no metrics service or pdb": {"metrics": map[string]any{"service": map[string]any{"enabled": false}}, "podDisruptionBudget": map[string]any{"enabled": false}},
	"hard anti-affinity, three replicas, no shutdown delay": {"replicaCount": 3, "podAntiAffinity": "hard", "shutdownDelaySeconds": 0},
	"everything set": {
		"image":             map[string]any{"repository": "registry.example/rolechain/webhook", "digest": "sha256:" + strings.Repeat("ab", 32)},
		"imagePullSecrets":  []any{map[string]any{"name": "pull"}},
		"serviceAccount":    map[string]any{"annotations": map[string]any{"a": "b"}},
		"podAnnotations":    map[string]any{"x": "y"},
		"podLabels":         map[string]any{"team": "platform"},
		"priorityClassName": "system-cluster-critical",
		"nodeSelector":      map[string]any{"kubernetes.io/os": "linux"},
		"tolerations":       []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
		"topologySpreadConstraints": []any{map[string]any{
			"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
			"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "rolechain"}},
		}},
		"affinity": map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
			"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}}}}},
		}}},
		"webhook": map[string]any{"extraArgs": []any{"--zap-log-level=debug"}, "excludedNamespaces": []any{"monitoring"}},
	},
}

func mustRender(t *testing.T, values map[string]any) *Rendered {
	t.Helper()
	r, err := Render(values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func TestChartLintsCleanInStrictMode(t *testing.T) {
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			kv, err := chartutil.ParseKubeVersion(KubeVersion)
			if err != nil {
				t.Fatal(err)
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = Namespace
			lint.KubeVersion = kv
			if vals == nil {
				vals = map[string]any{}
			}
			res := lint.Run([]string{ChartDir()}, vals)
			for _, err := range res.Errors {
				t.Errorf("lint error: %v", err)
			}
			for _, m := range res.Messages {
				// INFO is Helm's "icon is recommended"; anything above fails.
				if m.Severity > support.InfoSev {
					t.Errorf("lint: %s", m)
				}
			}
		})
	}
}

// Every render decodes strictly (Render fails otherwise) and yields the
// objects its values ask for, each with a namespace when it is namespaced.
func TestEveryRenderDecodesIntoKnownKindsAndFields(t *testing.T) {
	always := []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment", "MutatingWebhookConfiguration"}
	clusterScoped := []string{"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, vals)
			kinds := map[string]int{}
			for _, o := range r.Objects {
				kinds[o.U.GetKind()]++
				if slices.Contains(clusterScoped, o.U.GetKind()) {
					if o.U.GetNamespace() != "" {
						t.Errorf("%s is cluster-scoped but has namespace %q", o.Key(), o.U.GetNamespace())
					}
				} else if o.U.GetNamespace() != Namespace {
					t.Errorf("%s: namespace %q, want the release namespace %q", o.Key(), o.U.GetNamespace(), Namespace)
				}
			}
			for _, k := range always {
				if kinds[k] == 0 {
					t.Errorf("no %s rendered", k)
				}
			}
			if strings.TrimSpace(r.Notes) == "" {
				t.Error("NOTES.txt rendered empty")
			}
		})
	}
}

func deployment(t *testing.T, r *Rendered) *appsv1.Deployment {
	t.Helper()
	o := r.Find("Deployment", ReleaseName)
	if o == nil {
		t.Fatal("no Deployment rendered")
	}
	return o.Typed.(*appsv1.Deployment)
}

func webhookConfig(t *testing.T, r *Rendered) *admissionv1.MutatingWebhookConfiguration {
	t.Helper()
	o := r.Find("MutatingWebhookConfiguration", ReleaseName)
	if o == nil {
		t.Fatal("no MutatingWebhookConfiguration rendered")
	}
	return o.Typed.(*admissionv1.MutatingWebhookConfiguration)
}

// args parses the webhook container's --flag=value arguments.
func args(t *testing.T, d *appsv1.Deployment) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(k, "--") {
			t.Fatalf("argument %q is not --flag=value", a)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("flag %s given twice", k)
		}
		out[k] = v
	}
	return out
}

func TestDeploymentRunsTwoReplicasProtectedByAPodDisruptionBudget(t *testing.T) {
	r := mustRender(t, nil)
	d := deployment(t, r)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Fatalf("replicas = %v, want 2", deref(d.Spec.Replicas))
	}
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; mu == nil || mu.IntValue() != 0 {
		t.Errorf("rollout maxUnavailable = %v, want 0", mu)
	}
	pdbs := r.OfKind("PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
	}
	pdb := pdbs[0].Typed.(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("PDB selector %v does not select the webhook pods %v", sel, d.Spec.Template.Labels)
	}

	anti := d.Spec.Template.Spec.Affinity.PodAntiAffinity
	if anti == nil || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("want one preferred pod anti-affinity term by default, got %+v", anti)
	}
	term := anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	antiSel, _ := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if term.TopologyKey != "kubernetes.io/hostname" || !antiSel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("anti-affinity term %+v does not spread the webhook pods over nodes", term)
	}

	hard := deployment(t, mustRender(t, map[string]any{"podAntiAffinity": "hard"}))
	if n := len(hard.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution); n != 1 {
		t.Errorf("podAntiAffinity hard: %d required terms, want 1", n)
	}
}

func TestPodDisruptionBudgetThatWouldBlockEveryDrainIsRefused(t *testing.T) {
	_, err := Render(map[string]any{"replicaCount": 1})
	if err == nil || !strings.Contains(err.Error(), "podDisruptionBudget.minAvailable (1) must be below replicaCount (1)") {
		t.Fatalf("replicaCount 1 with the default PDB: err = %v, want the minAvailable message", err)
	}
	if _, err := Render(map[string]any{"replicaCount": 1, "podDisruptionBudget": map[string]any{"enabled": false}}); err != nil {
		t.Errorf("replicaCount 1 without PDB: %v", err)
	}
}

// The webhook pod passes the restricted Pod Security level, checked with the
// same library the API server's PodSecurity admission uses.
func TestWebhookPodPassesRestrictedPodSecurity(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		t.Fatal(err)
	}
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			d := deployment(t, mustRender(t, vals))
			results := eval.EvaluatePod(
				psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()},
				&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec)
			agg := policy.AggregateCheckResults(results)
			if !agg.Allowed {
				t.Errorf("webhook pod violates restricted: %s", agg.ForbiddenDetail())
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Error("webhook container's root filesystem is writable")
			}
		})
	}
}

func TestProbesAndServicesPointAtTheRightContainerPorts(t *testing.T) {
	r := mustRender(t, nil)
	d := deployment(t, r)
	c := d.Spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	a := args(t, d)
	if got, want := a["--health-probe-bind-address"], fmt.Sprintf(":%d", ports["health"]); got != want {
		t.Errorf("--health-probe-bind-address=%s but the health port is %s", got, want)
	}
	if got, want := a["--metrics-bind-address"], fmt.Sprintf(":%d", ports["metrics"]); got != want {
		t.Errorf("--metrics-bind-address=%s but the metrics port is %s", got, want)
	}
	if got, want := a["--port"], fmt.Sprint(ports["webhook"]); got != want {
		t.Errorf("--port=%s but the webhook port is %s", got, want)
	}
	for probeName, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe %+v does not query the health port", probeName, p)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probe paths %s, %s; want /healthz, /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	for _, o := range r.OfKind("Service") {
		svc := o.Typed.(*corev1.Service)
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Service %s does not select the webhook pods", svc.Name)
		}
		for _, p := range svc.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s targets port %q, which the container does not name", svc.Name, p.TargetPort.String())
			}
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 5 {
		t.Errorf("preStop = %+v, want a 5 s sleep so that a terminating replica drains", c.Lifecycle)
	}
}

func TestWebhookConfigurationOnlyCallsTheWebhookForAnnotatedPodsOutsideExcludedNamespaces(t *testing.T) {
	r := mustRender(t, map[string]any{"webhook": map[string]any{"excludedNamespaces": []any{"monitoring", "kube-system"}}})
	mwc := webhookConfig(t, r)
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	svc := w.ClientConfig.Service
	if svc == nil || svc.Name != ReleaseName || svc.Namespace != Namespace || svc.Path == nil || *svc.Path != "/mutate-v1-pod" || svc.Port == nil || *svc.Port != 443 {
		t.Errorf("clientConfig.service = %+v, want %s/%s:443/mutate-v1-pod", svc, Namespace, ReleaseName)
	}
	if r.Find("Service", ReleaseName) == nil {
		t.Errorf("clientConfig names Service %s, which is not rendered", ReleaseName)
	}
	if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionv1.IfNeededReinvocationPolicy {
		t.Errorf("reinvocationPolicy = %v, want IfNeeded", deref(w.ReinvocationPolicy))
	}
	if w.FailurePolicy == nil || *w.FailurePolicy != admissionv1.Fail {
		t.Errorf("failurePolicy = %v, want Fail", deref(w.FailurePolicy))
	}
	if w.SideEffects == nil || *w.SideEffects != admissionv1.SideEffectClassNone {
		t.Errorf("sideEffects = %v, want None", deref(w.SideEffects))
	}
	if w.TimeoutSeconds == nil || *w.TimeoutSeconds != 10 {
		t.Errorf("timeoutSeconds = %v, want 10", deref(w.TimeoutSeconds))
	}
	if !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("admissionReviewVersions = %v", w.AdmissionReviewVersions)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionv1.OperationType{admissionv1.Create}) ||
		!slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
		t.Errorf("rules = %+v, want CREATE pods only", w.Rules)
	}
	if len(w.MatchConditions) != 1 {
		t.Fatalf("matchConditions = %+v, want one (the annotation)", w.MatchConditions)
	}

	wantExcluded := []string{"kube-system", "monitoring", Namespace}
	sel := w.NamespaceSelector
	if sel == nil || len(sel.MatchExpressions) != 1 {
		t.Fatalf("namespaceSelector = %+v", sel)
	}
	e := sel.MatchExpressions[0]
	if e.Key != "kubernetes.io/metadata.name" || e.Operator != metav1.LabelSelectorOpNotIn || !slices.Equal(e.Values, wantExcluded) {
		t.Errorf("namespaceSelector = %+v, want kubernetes.io/metadata.name NotIn %v", e, wantExcluded)
	}
	nsSel, _ := metav1.LabelSelectorAsSelector(sel)
	for ns, called := range map[string]bool{"default": true, "team-a": true, "kube-system": false, Namespace: false, "monitoring": false} {
		if got := nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": ns}); got != called {
			t.Errorf("namespace %s: webhook called = %v, want %v", ns, got, called)
		}
	}
	if got := args(t, deployment(t, r))["--excluded-namespaces"]; got != strings.Join(wantExcluded, ",") {
		t.Errorf("--excluded-namespaces=%s, want the selector's list %s", got, strings.Join(wantExcluded, ","))
	}
	if got := args(t, deployment(t, r))["--webhook-config-name"]; got != mwc.Name {
		t.Errorf("--webhook-config-name=%s, but the configuration is %s", got, mwc.Name)
	}
}

func TestSelfManagedCertsGetOnlyTheirSecretAndWebhookConfiguration(t *testing.T) {
	r := mustRender(t, nil)
	a := args(t, deployment(t, r))
	if a["--cert-mode"] != "self-managed" {
		t.Errorf("--cert-mode=%s, want self-managed", a["--cert-mode"])
	}
	if len(r.OfKind("Certificate")) != 0 || len(r.OfKind("Issuer")) != 0 {
		t.Error("self-managed mode renders cert-manager objects")
	}
	if _, ok := webhookConfig(t, r).Annotations["cert-manager.io/inject-ca-from"]; ok {
		t.Error("self-managed mode asks cert-manager to inject the CA")
	}
	secret := a["--cert-secret-name"]
	role := r.Find("Role", ReleaseName+"-certs")
	if role == nil {
		t.Fatal("no Role for the certificate Secret")
	}
	for _, rule := range role.Typed.(*rbacv1.Role).Rules {
		if !slices.Equal(rule.Resources, []string{"secrets"}) {
			t.Errorf("cert Role grants %v", rule.Resources)
		}
		if slices.Contains(rule.Verbs, "create") {
			continue // create cannot be scoped by name
		}
		if !slices.Equal(rule.ResourceNames, []string{secret}) {
			t.Errorf("cert Role rule %v is not scoped to Secret %s", rule.Verbs, secret)
		}
	}
	cr := r.Find("ClusterRole", ReleaseName).Typed.(*rbacv1.ClusterRole)
	var mwcRule *rbacv1.PolicyRule
	for i, rule := range cr.Rules {
		if slices.Contains(rule.Resources, "mutatingwebhookconfigurations") {
			mwcRule = &cr.Rules[i]
		}
	}
	if mwcRule == nil || !slices.Equal(mwcRule.ResourceNames, []string{a["--webhook-config-name"]}) {
		t.Errorf("ClusterRole rule for the webhook configuration = %+v, want scoped to %s", mwcRule, a["--webhook-config-name"])
	}
	d := deployment(t, r)
	if v := volumeAt(t, d, a["--cert-dir"]); v.EmptyDir == nil {
		t.Errorf("self-managed cert dir is %+v, want a writable emptyDir", v)
	}
}

func TestCertManagerModeMountsTheCertificateAndInjectsItsCA(t *testing.T) {
	r := mustRender(t, map[string]any{"certs": map[string]any{"mode": "cert-manager"}})
	d := deployment(t, r)
	a := args(t, d)
	if a["--cert-mode"] != "files" {
		t.Errorf("--cert-mode=%s, want files", a["--cert-mode"])
	}
	certs := r.OfKind("Certificate")
	if len(certs) != 1 {
		t.Fatalf("%d Certificates, want 1", len(certs))
	}
	cert := certs[0].Typed.(*certmanagerv1.Certificate)
	if got, want := webhookConfig(t, r).Annotations["cert-manager.io/inject-ca-from"], Namespace+"/"+cert.Name; got != want {
		t.Errorf("inject-ca-from = %q, want %q", got, want)
	}
	wantDNS := ReleaseName + "." + Namespace + ".svc"
	if !slices.Contains(cert.Spec.DNSNames, wantDNS) {
		t.Errorf("Certificate dnsNames %v lack %s, the name the API server dials", cert.Spec.DNSNames, wantDNS)
	}
	if cert.Spec.SecretName != a["--cert-secret-name"] {
		t.Errorf("Certificate writes Secret %s, the webhook is told %s", cert.Spec.SecretName, a["--cert-secret-name"])
	}
	v := volumeAt(t, d, a["--cert-dir"])
	if v.Secret == nil || v.Secret.SecretName != cert.Spec.SecretName {
		t.Errorf("cert dir volume %+v, want Secret %s", v, cert.Spec.SecretName)
	}
	issuers := r.OfKind("Issuer")
	if len(issuers) != 1 || cert.Spec.IssuerRef.Name != issuers[0].U.GetName() || cert.Spec.IssuerRef.Kind != "Issuer" {
		t.Errorf("Certificate issuerRef %+v does not name the rendered Issuer", cert.Spec.IssuerRef)
	}
	for _, o := range r.OfKind("Role") {
		t.Errorf("cert-manager mode renders Role %s (the webhook needs no Secret access)", o.U.GetName())
	}
	for _, rule := range r.Find("ClusterRole", ReleaseName).Typed.(*rbacv1.ClusterRole).Rules {
		if !slices.Equal(rule.Resources, []string{"serviceaccounts"}) && !slices.Equal(rule.Resources, []string{"namespaces"}) {
			t.Errorf("cert-manager mode ClusterRole grants %v", rule.Resources)
		}
	}

	ext := mustRender(t, valueSets["cert-manager with issuer"])
	if n := len(ext.OfKind("Issuer")); n != 0 {
		t.Errorf("with certs.certManager.issuerRef set, %d Issuers rendered, want 0", n)
	}
	ref := ext.OfKind("Certificate")[0].Typed.(*certmanagerv1.Certificate).Spec.IssuerRef
	if ref.Name != "ca" || ref.Kind != "ClusterIssuer" {
		t.Errorf("issuerRef = %+v, want the ClusterIssuer ca", ref)
	}
}

func volumeAt(t *testing.T, d *appsv1.Deployment, mountPath string) corev1.Volume {
	t.Helper()
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath == mountPath {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
		}
	}
	t.Fatalf("nothing mounted at %s", mountPath)
	return corev1.Volume{}
}

// RBAC never grants a wildcard or a verb the webhook does not use.
func TestRBACIsMinimal(t *testing.T) {
	allowed := map[string][]string{
		"serviceaccounts":               {"get", "list", "watch"},
		"namespaces":                    {"get", "list", "watch"},
		"secrets":                       {"get", "create", "update"},
		"mutatingwebhookconfigurations": {"get", "update"},
	}
	for name, vals := range valueSets {
		r := mustRender(t, vals)
		var rules []rbacv1.PolicyRule
		for _, o := range r.OfKind("ClusterRole") {
			rules = append(rules, o.Typed.(*rbacv1.ClusterRole).Rules...)
		}
		for _, o := range r.OfKind("Role") {
			rules = append(rules, o.Typed.(*rbacv1.Role).Rules...)
		}
		for _, rule := range rules {
			for _, res := range rule.Resources {
				for _, verb := range rule.Verbs {
					if !slices.Contains(allowed[res], verb) {
						t.Errorf("%s: grants %s on %s", name, verb, res)
					}
				}
			}
		}
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			for _, o := range r.OfKind(kind) {
				var subjects []rbacv1.Subject
				var roleRef rbacv1.RoleRef
				if b, ok := o.Typed.(*rbacv1.ClusterRoleBinding); ok {
					subjects, roleRef = b.Subjects, b.RoleRef
				} else {
					b := o.Typed.(*rbacv1.RoleBinding)
					subjects, roleRef = b.Subjects, b.RoleRef
				}
				if r.Find(roleRef.Kind, roleRef.Name) == nil {
					t.Errorf("%s: %s %s binds %s %s, which is not rendered", name, kind, o.U.GetName(), roleRef.Kind, roleRef.Name)
				}
				want := rbacv1.Subject{Kind: "ServiceAccount", Name: ReleaseName, Namespace: Namespace}
				if !slices.Equal(subjects, []rbacv1.Subject{want}) {
					t.Errorf("%s: %s %s binds %v, want only the webhook's ServiceAccount", name, kind, o.U.GetName(), subjects)
				}
			}
		}
	}
}

func TestServiceMonitorScrapesOnlyTheMetricsService(t *testing.T) {
	r := mustRender(t, valueSets["service monitor"])
	sms := r.OfKind("ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sms))
	}
	if sms[0].U.GetLabels()["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v lack metrics.serviceMonitor.labels", sms[0].U.GetLabels())
	}
	sel, err := metav1.LabelSelectorAsSelector(&sms[0].Typed.(*monitoringv1.ServiceMonitor).Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(r.Find("Service", ReleaseName+"-metrics").U.GetLabels())) {
		t.Error("ServiceMonitor does not select the metrics Service")
	}
	if sel.Matches(labels.Set(r.Find("Service", ReleaseName).U.GetLabels())) {
		t.Error("ServiceMonitor also selects the admission Service (it would scrape HTTPS port 443)")
	}
	if len(mustRender(t, nil).OfKind("ServiceMonitor")) != 0 {
		t.Error("ServiceMonitor rendered by default (it needs prometheus-operator's CRD)")
	}
	if _, err := Render(map[string]any{"metrics": map[string]any{"service": map[string]any{"enabled": false}, "serviceMonitor": map[string]any{"enabled": true}}}); err == nil ||
		!strings.Contains(err.Error(), "metrics.serviceMonitor.enabled needs metrics.service.enabled") {
		t.Errorf("ServiceMonitor without metrics Service: err = %v", err)
	}
}

// deref shows what a pointer field holds in a failure message.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Under another release name and namespace, every name the webhook is told
// on its command line is the name of the object the chart rendered, so the
// self-managed certificate code patches the right configuration and Secret.
func TestFlagsNameTheObjectsOfTheRelease(t *testing.T) {
	for _, mode := range []string{"self-managed", "cert-manager"} {
		t.Run(mode, func(t *testing.T) {
			r, err := RenderRelease("prod", "platform", map[string]any{"certs": map[string]any{"mode": mode}})
			if err != nil {
				t.Fatal(err)
			}
			const fullname = "prod-rolechain"
			d := r.Find("Deployment", fullname)
			if d == nil {
				t.Fatalf("no Deployment %s", fullname)
			}
			a := args(t, d.Typed.(*appsv1.Deployment))
			if r.Find("MutatingWebhookConfiguration", a["--webhook-config-name"]) == nil {
				t.Errorf("--webhook-config-name=%s names no rendered configuration", a["--webhook-config-name"])
			}
			if r.Find("Service", a["--service-name"]) == nil || a["--service-namespace"] != "platform" {
				t.Errorf("--service-name=%s --service-namespace=%s name no rendered Service", a["--service-name"], a["--service-namespace"])
			}
			svc := r.Find("MutatingWebhookConfiguration", fullname).Typed.(*admissionv1.MutatingWebhookConfiguration).Webhooks[0].ClientConfig.Service
			if svc.Name != a["--service-name"] || svc.Namespace != a["--service-namespace"] {
				t.Errorf("the API server calls %s/%s, the webhook serves as %s/%s", svc.Namespace, svc.Name, a["--service-namespace"], a["--service-name"])
			}
			if !strings.Contains(a["--excluded-namespaces"], "platform") {
				t.Errorf("--excluded-namespaces=%s lacks the release namespace", a["--excluded-namespaces"])
			}
			if mode == "self-managed" {
				role := r.Find("Role", fullname+"-certs").Typed.(*rbacv1.Role)
				if !slices.Equal(role.Rules[0].ResourceNames, []string{a["--cert-secret-name"]}) {
					t.Errorf("Role scoped to %v, webhook told --cert-secret-name=%s", role.Rules[0].ResourceNames, a["--cert-secret-name"])
				}
			} else {
				cert := r.Find("Certificate", fullname).Typed.(*certmanagerv1.Certificate)
				if !slices.Contains(cert.Spec.DNSNames, fullname+".platform.svc") {
					t.Errorf("Certificate dnsNames %v lack %s.platform.svc", cert.Spec.DNSNames, fullname)
				}
			}
			if !strings.Contains(r.Notes, "platform") {
				t.Error("NOTES do not name the release namespace")
			}
		})
	}
}
