package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The runner, test/e2e/docblocks.sh, against stand-ins for helm and kubectl
// (testdata/fake-*) that keep the release's revision and the namespaces and
// their annotations in a directory: what it creates, runs and restores.

const fixtureDoc = `# Multi-tenant

<!-- runnable -->
` + "```sh" + `
helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values --set webhook.namespacePolicy=required
kubectl annotate namespace team-a rolechain.dev/allowed-role-arns='arn:aws:iam::1:role/team-a/*'
kubectl annotate namespace team-b rolechain.dev/allowed-role-arns='arn:aws:iam::1:role/team-b/*'
` + "```" + `

<!-- runnable -->
` + "```sh" + `
helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values --set guard.enabled=true
` + "```" + `
`

const fixtureMakefile = "## bench: benchmarks\nbench:\n\tgo test -bench . ./...\n"

const initialRevision = "7"

type result struct {
	state          string // the stand-ins' state
	stdout, stderr string
	err            error
}

func (r result) read(t *testing.T, name string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.state, name))
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), true
}

// runScript extracts the fixture's blocks, prepares the state (prepare may
// add namespaces) and runs the script with the stand-ins and env.
func runScript(t *testing.T, prepare func(state string), env ...string) result {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"docs", "test/bench", "charts/rolechain"} {
		must(t, os.MkdirAll(filepath.Join(root, dir), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "README.md"), []byte("# rolechain\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "charts/rolechain/README.md"), []byte("# chart\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "docs/multi-tenant.md"), []byte(fixtureDoc), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "Makefile"), []byte(fixtureMakefile), 0o644))
	blocksDir := filepath.Join(t.TempDir(), "blocks")
	must(t, extract(root, blocksDir))

	state := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(state, "ns"), 0o755))
	must(t, os.WriteFile(filepath.Join(state, "revision"), []byte(initialRevision+"\n"), 0o644))
	if prepare != nil {
		prepare(state)
	}
	testdata, err := filepath.Abs("testdata")
	must(t, err)
	cmd := exec.Command("bash", "../../e2e/docblocks.sh")
	cmd.Env = append(os.Environ(),
		"DOCBLOCKS_DIR="+blocksDir,
		"FAKE_STATE="+state,
		"HELM="+filepath.Join(testdata, "fake-helm"),
		"KUBECTL="+filepath.Join(testdata, "fake-kubectl"),
		"KUBECONFIG=/nonexistent",
		"DRYRUN=",
		"FAKE_FAIL=",
	)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return result{state: state, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// assertRestored checks the release is back at its revision from before and
// the namespaces the script created are gone.
func assertRestored(t *testing.T, r result) {
	t.Helper()
	if got, _ := r.read(t, "rolled-back-to"); got != initialRevision {
		t.Errorf("release rolled back to %q, want revision %s\nstderr:\n%s", got, initialRevision, r.stderr)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := os.Stat(filepath.Join(r.state, "ns", ns)); err == nil {
			t.Errorf("namespace %s, created by the script, is still there", ns)
		}
	}
}

func TestTheRunnerRunsEveryBlockWithItsPlaceThenRestoresTheStack(t *testing.T) {
	r := runScript(t, nil)
	if r.err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	for _, where := range []string{"==> docs/multi-tenant.md:4", "==> docs/multi-tenant.md:11"} {
		if !strings.Contains(r.stdout, where) {
			t.Errorf("output does not name the block %s:\n%s", where, r.stdout)
		}
	}
	log, _ := r.read(t, "log")
	for _, call := range []string{
		"kubectl create namespace team-a",
		"helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values --set webhook.namespacePolicy=required",
		"kubectl annotate namespace team-b rolechain.dev/allowed-role-arns=arn:aws:iam::1:role/team-b/*",
		"helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values --set guard.enabled=true",
		"kubectl -n rolechain-system rollout status deployment/rolechain",
	} {
		if !strings.Contains(log, call) {
			t.Errorf("never ran %q; calls:\n%s", call, log)
		}
	}
	// After each block that upgrades the release, the webhook rolls out
	// before anything else changes the release.
	waiting := false
	for _, call := range strings.Split(log, "\n") {
		switch {
		case strings.HasPrefix(call, "helm upgrade"), strings.HasPrefix(call, "helm rollback"):
			if waiting {
				t.Errorf("%q before the webhook rolled out; calls:\n%s", call, log)
			}
			waiting = true
		case strings.Contains(call, "rollout status"):
			waiting = false
		}
	}
	if waiting {
		t.Errorf("the last change of the release is not followed by a rollout; calls:\n%s", log)
	}
	assertRestored(t, r)
}

func TestAFailingBlockFailsTheRunAndTheStackIsStillRestored(t *testing.T) {
	r := runScript(t, nil, "FAKE_FAIL=guard.enabled")
	if r.err == nil {
		t.Fatal("the run passed although the second block failed")
	}
	if !strings.Contains(r.stderr, "docs/multi-tenant.md:11 failed") {
		t.Errorf("stderr does not name the failed block:\n%s", r.stderr)
	}
	assertRestored(t, r)
}

// A namespace that was there before stays, with its annotation's value from
// before; the block still runs as on a fresh namespace (its annotate has no
// --overwrite).
func TestANamespaceThatExistedGetsItsAnnotationBack(t *testing.T) {
	r := runScript(t, func(state string) {
		dir := filepath.Join(state, "ns", "team-a")
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "rolechain.dev_allowed-role-arns"), []byte("arn:aws:iam::9:role/old"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "other"), []byte("kept"), 0o644))
	})
	if r.err != nil {
		t.Fatalf("%v\nstderr:\n%s", r.err, r.stderr)
	}
	if got, ok := r.read(t, "ns/team-a/rolechain.dev_allowed-role-arns"); got != "arn:aws:iam::9:role/old" {
		t.Errorf("team-a's annotation after the run: %q (present %v), want its value from before", got, ok)
	}
	if got, _ := r.read(t, "ns/team-a/other"); got != "kept" {
		t.Errorf("team-a's other annotation: %q, want it untouched", got)
	}
	if _, err := os.Stat(filepath.Join(r.state, "ns", "team-b")); err == nil {
		t.Error("team-b, created by the script, is still there")
	}
}

func TestAFailedRestoreFailsTheRun(t *testing.T) {
	r := runScript(t, nil, "FAKE_FAIL=rollback")
	if r.err == nil {
		t.Fatal("the run passed although the release could not be rolled back")
	}
}

func TestADryRunPrintsEveryBlockAndRunsNothing(t *testing.T) {
	r := runScript(t, nil, "DRYRUN=1")
	if r.err != nil {
		t.Fatalf("%v\nstderr:\n%s", r.err, r.stderr)
	}
	if log, ran := r.read(t, "log"); ran {
		t.Errorf("a dry run called helm or kubectl:\n%s", log)
	}
	for _, want := range []string{"==> docs/multi-tenant.md:4", "| kubectl annotate namespace team-a", "==> docs/multi-tenant.md:11", "+ helm rollback rolechain", "+ kubectl delete namespace team-b"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run does not print %q:\n%s", want, r.stdout)
		}
	}
}
