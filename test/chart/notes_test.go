package chart

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/rolechain/rolechain/webhook/inject"
)

// What helm install prints (NOTES.txt) is what a user does next: it names
// the two images exactly as the pods will pull them, says to push them when
// they are the chart's unpublished defaults, gives the commands that check
// the webhook and a pod, and says which pods the webhook is called for as
// the rendered matchConditions decide it.
func TestNOTESSayWhatToDoNextAndHowToCheckAPod(t *testing.T) {
	own := map[string]any{
		"image":   map[string]any{"repository": "registry.example.com/rolechain/webhook", "tag": "1.2.3"},
		"sidecar": map[string]any{"image": map[string]any{"repository": "registry.example.com/rolechain/sidecar", "tag": "1.2.3"}},
	}
	for name, tc := range map[string]struct {
		values   map[string]any
		pushHint bool
	}{
		"chart defaults":                    {nil, true},
		"images of a registry of one's own": {own, false},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := Render(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			notes := r.Notes
			d := r.OfKind("Deployment")[0].Typed.(*appsv1.Deployment)
			webhookImage := d.Spec.Template.Spec.Containers[0].Image
			sidecarImage := args(t, d)["--sidecar-image"]
			for what, want := range map[string]string{
				"the webhook image":            webhookImage,
				"the sidecar image":            sidecarImage,
				"the webhook's rollout":        "kubectl -n " + Namespace + " rollout status deployment/" + d.Name,
				"the pod's status annotation":  `kubectl get pod POD -o jsonpath='{.metadata.annotations.rolechain\.dev/status}'`,
				"the sidecar's log":            "kubectl logs POD -c " + inject.SidecarName,
				"where to look when it fails":  "docs/troubleshooting.md",
				"which pods reach the webhook": "a rolechain.dev/ annotation other than rolechain.dev/status",
			} {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES do not give %s (%q):\n%s", what, want, notes)
				}
			}
			if got := strings.Contains(notes, "docker push") || strings.Contains(notes, "crane push"); got != tc.pushHint {
				t.Errorf("NOTES say how to push the images: %v, want %v (only for the chart's unpublished defaults):\n%s", got, tc.pushHint, notes)
			}
			// The sentence about which pods reach the webhook is true only
			// while the match condition is the one it describes.
			mwc := r.OfKind("MutatingWebhookConfiguration")[0].Typed.(*admissionv1.MutatingWebhookConfiguration)
			expr := mwc.Webhooks[0].MatchConditions[0].Expression
			if !strings.Contains(expr, "k.startsWith('rolechain.dev/') && k != 'rolechain.dev/status'") {
				t.Errorf("the match condition changed (%s): update what NOTES.txt says about which pods reach the webhook", expr)
			}
		})
	}
}
