package e2e

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// The webhook's fallback mode, for clusters without native sidecars (before
// Kubernetes 1.29): a one-shot init container (the sidecar with
// --exit-when-ready) writes the first credentials before the app starts,
// then the sidecar as a regular container keeps them fresh.
// test/e2e/fallback.sh switches the installed webhook to that mode and runs
// this spec with E2E_SIDECAR_MODE=fallback; in the main run it skips.
func TestFallbackModeStartsTheAppWithCredentialsAndKeepsThemFresh(t *testing.T) {
	if os.Getenv("E2E_SIDECAR_MODE") != "fallback" {
		t.Skip("the webhook runs with native sidecars; test/e2e/fallback.sh runs this spec in fallback mode")
	}
	ns := setupNamespace(t, "e2e-fallback", nil)
	pod := annotatedPod(ns, "fallback").annotate("rolechain.dev/refresh-interval", refreshEvery).
		reader("app", time.Second, 0, true).toolbox().create(t)
	running := cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)

	var status struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal([]byte(running.Annotations["rolechain.dev/status"]), &status); err != nil || status.Mode != "fallback" {
		t.Fatalf("rolechain.dev/status = %q, want mode fallback (err %v)", running.Annotations["rolechain.dev/status"], err)
	}
	if sc := findContainer(running.Spec.Containers, sidecarName); sc == nil {
		t.Fatalf("no regular container %s: %v", sidecarName, containerNames(running.Spec.Containers))
	}
	// The one-shot init container finished with the credentials written:
	// only then may the kubelet start the app.
	var initState *corev1.ContainerStateTerminated
	for _, s := range running.Status.InitContainerStatuses {
		if s.Name == fallbackInitName {
			initState = s.State.Terminated
		}
	}
	if initState == nil || initState.ExitCode != 0 {
		t.Fatalf("init container %s: %+v, want terminated with exit code 0", fallbackInitName, initState)
	}
	waitForReads(t, ns, running.Name, "app", 2)

	// The regular sidecar refreshes: the keys change, and every read of the
	// file finds valid credentials.
	first, err := readCredentials(t, ns, running.Name, "default")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, err := readCredentials(t, ns, running.Name, "default")
		if err != nil {
			t.Fatal(err)
		}
		if c.AccessKeyID != first.AccessKeyID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the keys did not change in 2 minutes with refresh-interval %s", refreshEvery)
		}
		time.Sleep(time.Second)
	}
	if ok, failed := readLines(t, ns, running.Name, "app"); len(failed) > 0 || len(ok) == 0 {
		t.Fatalf("the app's reads across the refresh: %d ok, %d failed; first failure: %v", len(ok), len(failed), failed)
	}
}
