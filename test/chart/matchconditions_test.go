package chart

import (
	"testing"

	"github.com/google/cel-go/cel"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// The matchConditions expression, evaluated as the API server does (object
// is the pod as an untyped map; CEL's standard macros), calls the webhook for
// exactly the pods that carry a rolechain.dev/ key other than the status
// (annotations.Requested): a typo or a named profile alone is denied, not
// admitted unchanged.
// An error would count as a match under failurePolicy Fail, so a pod without
// annotations must evaluate cleanly to false.
func TestMatchConditionCallsTheWebhookForEveryPodWithARolechainKey(t *testing.T) {
	mwc := webhookConfig(t, mustRender(t, nil))
	expr := mwc.Webhooks[0].MatchConditions[0].Expression

	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatalf("compiling %q: %v", expr, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		t.Fatalf("expression yields %v, want bool", ast.OutputType())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name        string
		annotations map[string]string
		want        bool
	}{
		{"no annotations at all", nil, false},
		{"empty annotations", map[string]string{}, false},
		{"unrelated annotations", map[string]string{"prometheus.io/scrape": "true"}, false},
		{"only a first-hop annotation (denied: no role-arn)", map[string]string{"rolechain.dev/web-identity-role-arn": "arn:aws:iam::111122223333:role/w"}, true},
		{"a misspelt key (denied, naming it)", map[string]string{"rolechain.dev/role-arns": "x"}, true},
		{"a misspelt main key", map[string]string{"rolechain.dev/Role-Arn": "x"}, true},
		{"only the status the webhook writes", map[string]string{"rolechain.dev/status": "{}"}, false},
		{"role-arn under another prefix", map[string]string{"example.com/rolechain.dev/role-arn": "x"}, false},
		{"main profile", map[string]string{"rolechain.dev/role-arn": "arn:aws:iam::111122223333:role/t"}, true},
		{"named profile only", map[string]string{"rolechain.dev/role-arn.reports": "arn:aws:iam::111122223333:role/t"}, true},
		{"invalid value still reaches the webhook (to be denied)", map[string]string{"rolechain.dev/role-arn": "not-an-arn"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Namespace: "default", Annotations: c.annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
			}
			obj, err := k8sruntime.DefaultUnstructuredConverter.ToUnstructured(pod)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := prg.Eval(map[string]any{"object": obj, "oldObject": nil})
			if err != nil {
				t.Fatalf("evaluation error (the API server would apply failurePolicy): %v", err)
			}
			if got := out.Value().(bool); got != c.want {
				t.Errorf("webhook called = %v, want %v", got, c.want)
			}
		})
	}
}
