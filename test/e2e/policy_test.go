package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// radosgw 16.2 evaluates an inline session policy passed to AssumeRole
// (checked on this harness: a Deny of s3:GetObject, or an Allow of other
// actions only, makes GetObject 403; an Allow of s3:* leaves the role's
// grant). It ignores PolicyArns, having no managed policies, so only the
// inline policy is exercised here. The policy has spaces on purpose:
// radosgw reads a form-encoded '+' literally, so the sidecar sends them as
// %20 (sidecar/chain/formencoding.go).
const denyGetObject = `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}]}`

func TestASessionPolicyThatDeniesGetObjectMakesTheChainedReadFail(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-session-policy", nil)
	// One sidecar, one token, the same chain twice: "default" carries the
	// session policy, "open" (the same target, as an extra profile, which
	// inherits no session policy) does not.
	pod := annotatedPod(ns, "session-policy").
		annotate("rolechain.dev/session-policy", denyGetObject, "rolechain.dev/role-arn.open", sts.TargetRoleARN).
		reader("narrowed", 2*time.Second, 0, true).
		reader("open", 2*time.Second, 0, true, corev1.EnvVar{Name: "AWS_PROFILE", Value: "open"}).
		create(t)
	running := cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)
	if s := running.Annotations["rolechain.dev/status"]; !strings.Contains(s, `"sessionPolicies":{"default":["inline"]}`) {
		t.Errorf("status %s does not say that profile default has an inline session policy", s)
	}

	waitForReads(t, ns, pod.Name, "open", 1)
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(context.Context) (bool, error) {
		ok, failed := readLines(t, ns, pod.Name, "narrowed")
		if len(ok) > 0 {
			return false, fmt.Errorf("the profile with the session policy read the object: %s", ok[0])
		}
		return len(failed) > 0 && strings.Contains(failed[0], "403"), nil
	})
	if err != nil {
		t.Fatalf("profile default (session policy denies s3:GetObject): %v", err)
	}
}

// The installed chart reads namespaces (RBAC, metadata cache) and enforces
// their role policy: a namespace created with rolechain.dev/allowed-role-arns
// a moment before its pods admits the chain it lists and denies another
// role, with the message kubectl shows.
func TestTheInstalledWebhookEnforcesTheNamespaceRolePolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const name = "e2e-namespace-policy"
	allowed := sts.WebRoleARN + ", " + sts.TargetRoleARN[:strings.LastIndex(sts.TargetRoleARN, "/")+1] + "*"
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"rolechain.dev/allowed-role-arns": allowed}}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}) })
	cluster.ServiceAccount(t, name, "app", nil)

	// Server-side dry run: admitted and mutated as for real, nothing runs.
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	admitted, err := cluster.Client.CoreV1().Pods(name).Create(ctx, annotatedPod(name, "allowed").toolbox().pod, dryRun)
	if err != nil {
		t.Fatalf("a pod whose chain the namespace allows: %v", err)
	}
	var status struct {
		NamespacePolicy struct {
			Applied    bool
			AdmittedBy map[string]string
		}
	}
	targetPattern := allowed[strings.Index(allowed, ", ")+2:]
	if err := json.Unmarshal([]byte(admitted.Annotations["rolechain.dev/status"]), &status); err != nil ||
		!status.NamespacePolicy.Applied || len(status.NamespacePolicy.AdmittedBy) != 2 ||
		status.NamespacePolicy.AdmittedBy[sts.WebRoleARN] != sts.WebRoleARN || status.NamespacePolicy.AdmittedBy[sts.TargetRoleARN] != targetPattern {
		t.Errorf("status %s: want the web role admitted by itself and the target by %s (%v)", admitted.Annotations["rolechain.dev/status"], targetPattern, err)
	}

	other := strings.Replace(sts.TargetRoleARN, ":role/", ":role/elsewhere/", 1)
	_, err = cluster.Client.CoreV1().Pods(name).Create(ctx, annotatedPod(name, "denied").annotate("rolechain.dev/role-arn", other).toolbox().pod, dryRun)
	wantErr := fmt.Sprintf(`admission webhook "pod.rolechain.dev" denied the request: namespaces[%s].metadata.annotations[rolechain.dev/allowed-role-arns]: Forbidden: `+
		`role %s (hop 2 of 2 of profile "default") is not allowed in namespace %q: it matches none of the patterns in the namespace's rolechain.dev/allowed-role-arns annotation: %s`,
		name, other, name, allowed)
	if err == nil || err.Error() != wantErr {
		t.Fatalf("a pod with another role:\n got: %v\nwant: %s", err, wantErr)
	}
}
