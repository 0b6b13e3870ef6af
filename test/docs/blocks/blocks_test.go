package blocks

import (
	"reflect"
	"strings"
	"testing"
)

const makefile = `SHELL := /bin/bash
## demo: the demo
demo:
	bash test/demo.sh

## test: everything CI runs
test: lint unit

## cluster-up / cluster-down: a cluster
cluster-up:
	bash test/cluster/up.sh

undocumented:
	true

## bench: benchmarks
bench:
	go test -run '^$$' -bench . -benchmem $(GO_PKGS)
	KUBEBUILDER_ASSETS=$(K8S_BIN) go run ./test/bench/admission $(BENCH_FLAGS)
	IDLE_SECONDS=$${IDLE_SECONDS:-130} bash test/bench/sidecar-idle.sh
`

func checker(t *testing.T) *Checker {
	t.Helper()
	c, err := newChecker(makefile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseFindsEachShellBlockWithItsMarkerAndLine(t *testing.T) {
	doc := "# T\n\n<!-- runnable -->\n```sh\nkubectl get ns\n```\n\n<!-- needs AWS -->\n```bash\naws sts get-caller-identity\n```\n" +
		"```yaml\nkind: Pod\n```\n<!-- runnable: make -->\n```shell\nmake demo\n```\n"
	got, errs := Parse("d.md", doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []Block{
		{File: "d.md", Line: 4, Class: Stack, Text: "kubectl get ns\n"},
		{File: "d.md", Line: 9, Class: NeedsAWS, Text: "aws sts get-caller-identity\n"},
		{File: "d.md", Line: 16, Class: Make, Text: "make demo\n"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseRejectsUnmarkedUnknownAndUnclosedBlocks(t *testing.T) {
	for name, doc := range map[string]string{
		"unmarked":       "text\n```sh\nls\n```\n",
		"unknown marker": "<!-- runnable: someday -->\n```sh\nls\n```\n",
		"marker too far": "<!-- runnable -->\n\n```sh\nls\n```\n",
		"unclosed":       "<!-- runnable -->\n```sh\nls\n",
	} {
		if _, errs := Parse("d.md", doc); len(errs) != 1 {
			t.Errorf("%s: %d errors, want 1: %v", name, len(errs), errs)
		}
	}
}

// A shell fence shown inside another fenced block (Markdown about Markdown)
// is text, not a block.
func TestParseSkipsFencesInsideOtherBlocks(t *testing.T) {
	doc := "````md\n```sh\nls\n```\n````\n<!-- runnable -->\n```sh\nkubectl get ns\n```\n"
	got, errs := Parse("d.md", doc)
	if len(errs) > 0 || len(got) != 1 || got[0].Line != 7 {
		t.Errorf("got %+v %v", got, errs)
	}
}

func TestCommandsSplitsAsBashWould(t *testing.T) {
	text := "helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values \\\n  --set a=b   # comment\n" +
		"kubectl annotate ns team-a k='x,y/*' \"q\\\"r\"; echo \"$HOME\" | cat\n\n# only a comment\nA=1 B=2 go test '^$'\n"
	got, err := Commands(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{
		{Line: 1, Args: []string{"helm", "upgrade", "rolechain", "charts/rolechain", "-n", "rolechain-system", "--reuse-values", "--set", "a=b"}},
		{Line: 3, Args: []string{"kubectl", "annotate", "ns", "team-a", "k=x,y/*", `q"r`}},
		{Line: 3, Args: []string{"echo", "$HOME"}, Expands: true},
		{Line: 3, Args: []string{"cat"}},
		{Line: 6, Assign: []string{"A=1", "B=2"}, Args: []string{"go", "test", "^$"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := Commands("echo 'open\n"); err == nil {
		t.Error("an unclosed quote is accepted")
	}
}

func TestCheckAcceptsWhatTheRunnerCanUndoAndSaysWhatChanges(t *testing.T) {
	b := Block{File: "d.md", Line: 10, Class: Stack, Text: "helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values \\\n  --set webhook.namespacePolicy=required\n" +
		"kubectl annotate namespace team-a rolechain.dev/allowed-role-arns='arn:aws:iam::1:role/a/*'\n" +
		"kubectl annotate ns/team-b --overwrite rolechain.dev/x=y rolechain.dev/z-\nkubectl get pods -A\nhelm status rolechain -n rolechain-system\n"}
	ch, err := checker(t).Check(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Change{UpgradesRelease: true, Annotations: [][2]string{
		{"team-a", "rolechain.dev/allowed-role-arns"}, {"team-b", "rolechain.dev/x"}, {"team-b", "rolechain.dev/z"}}}
	if !reflect.DeepEqual(ch, want) {
		t.Errorf("got %+v, want %+v", ch, want)
	}
	ch, err = checker(t).Check(Block{File: "d.md", Line: 1, Class: Stack, Text: "kubectl get ns\n"})
	if err != nil || ch.UpgradesRelease || len(ch.Annotations) > 0 {
		t.Errorf("a read-only block: %+v %v", ch, err)
	}
}

// Each of these would change the stack in a way the runner does not undo, or
// depend on something it does not provide: the extractor fails on them.
func TestCheckRefusesRunnableBlocksItCannotRun(t *testing.T) {
	for text, why := range map[string]string{
		"make demo\n": "only helm and kubectl",
		"helm upgrade rolechain charts/rolechain -n rolechain-system --set a=b\n":                 "--reuse-values",
		"helm upgrade other charts/rolechain -n rolechain-system --reuse-values\n":                "release rolechain",
		"helm upgrade rolechain charts/rolechain -n default --reuse-values\n":                     "namespace rolechain-system",
		"helm upgrade rolechain charts/rolechain --reuse-values\n":                                "namespace rolechain-system",
		"helm upgrade rolechain charts/rolechain -n rolechain-system --reuse-values -f my.yaml\n": "file",
		"helm install rolechain charts/rolechain -n rolechain-system\n":                           "helm install",
		"helm uninstall rolechain -n rolechain-system\n":                                          "helm uninstall",
		"kubectl apply -f pod.yaml\n":                                                             "kubectl apply",
		"kubectl delete namespace team-a\n":                                                       "kubectl delete",
		"kubectl annotate pod app k=v\n":                                                          "one namespace",
		"kubectl annotate namespace team-a\n":                                                     "one namespace",
		"kubectl annotate namespace team-a --all\n":                                               "one namespace",
		"kubectl annotate namespace team-a k=v extra\n":                                           "KEY=VALUE",
		"kubectl get pod $POD\n":                                                                  "variable",
		"KUBECONFIG=x kubectl get ns\n":                                                           "sets KUBECONFIG",
		"\n# nothing\n":                                                                           "no command",
		"kubectl get ns 'open\n":                                                                  "unclosed",
	} {
		_, err := checker(t).Check(Block{File: "d.md", Line: 1, Class: Stack, Text: text})
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%q: error %v, want one saying %q", text, err, why)
		}
	}
}

func TestMakeBlocksRunDocumentedTargets(t *testing.T) {
	for text, ok := range map[string]bool{
		"make demo   # narrated\nmake test\n": true,
		"make cluster-down\n":                 true,
		"make demo KEEP=1\n":                  true,
		"make undocumented\n":                 false,
		"make nosuch\n":                       false,
		"make\n":                              false,
		"make demo extra\n":                   false,
		"bash test/demo.sh\n":                 false,
	} {
		_, err := checker(t).Check(Block{File: "d.md", Line: 1, Class: Make, Text: text})
		if (err == nil) != ok {
			t.Errorf("%q: error %v, want accepted %v", text, err, ok)
		}
	}
}

func TestBenchBlocksRunTheBenchRecipe(t *testing.T) {
	for text, ok := range map[string]bool{
		"go test -run '^$' -bench . -benchmem ./webhook/server/\n":                      true,
		"go test -run '^$' -bench . -benchmem ./...\n":                                  true,
		"KUBEBUILDER_ASSETS=bin/k8s go run ./test/bench/admission -target null=null:\n": true,
		"KUBEBUILDER_ASSETS=bin/k8s go run ./test/bench/admission\n":                    true,
		"IDLE_SECONDS=30 bash test/bench/sidecar-idle.sh\n":                             true,
		"bash test/bench/sidecar-idle.sh\n":                                             true,
		"go test -bench . ./...\n":                                                      false,
		"FOO=1 bash test/bench/sidecar-idle.sh\n":                                       false,
		"go run ./test/bench/stalled\n":                                                 false,
		"bash test/bench/sidecar-idle.sh extra\n":                                       false,
	} {
		_, err := checker(t).Check(Block{File: "d.md", Line: 1, Class: Bench, Text: text})
		if (err == nil) != ok {
			t.Errorf("%q: error %v, want accepted %v", text, err, ok)
		}
	}
}

func TestNeedsAWSBlocksAreNeverChecked(t *testing.T) {
	if _, err := checker(t).Check(Block{Class: NeedsAWS, Text: "aws s3 ls $BUCKET\n"}); err != nil {
		t.Error(err)
	}
}
