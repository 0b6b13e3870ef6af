package chart

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
)

// sessionTagKeyCandidates are keys on both sides of IAM's rule: its
// characters (Unicode letters, digits and spaces among them), its length
// in characters, the reserved aws: prefix in every case IAM folds to it,
// and the list's comma.
var sessionTagKeyCandidates = []string{
	"rolechain-namespace", "k", "a b", "a: b", "- x", "_.:/=+-@", "名前空間", "Ünïcode", "x:aws:", "awsns", "aws", " lead", "trail ",
	strings.Repeat("k", 128), strings.Repeat("é", 128), strings.Repeat("k", 129), strings.Repeat("é", 129),
	"", "aws:", "aws:ns", "AWS:ns", "aWs:ns", "awſ:ns", "a,b", "a!", "a*", "a\"b", "a\\b", "a#b", "a\tb", "a\nb", "{{ x }}",
}

// The chart refuses exactly the session tag keys the contract refuses
// (contract.ParseSessionTagKeys, the rule the webhook's --session-tag-keys
// and the sidecar's apply), each key in each of the three places, and
// every pair that IAM's case folding makes one key.
func TestChartAcceptsExactlyTheSessionTagKeysTheContractAccepts(t *testing.T) {
	defaults := map[string]string{"namespace": "rolechain-namespace", "pod": "rolechain-pod", "serviceAccount": "rolechain-service-account"}
	check := func(t *testing.T, keys map[string]string) {
		t.Helper()
		joined := keys["namespace"] + "," + keys["pod"] + "," + keys["serviceAccount"]
		_, errs := contract.ParseSessionTagKeys(joined, field.NewPath("--session-tag-keys"))
		values := map[string]any{}
		for k, v := range keys {
			values[k] = v
		}
		r, err := Render(map[string]any{"sidecar": map[string]any{"sessionTagKeys": values}})
		switch {
		case err != nil && len(errs) == 0:
			t.Errorf("%q: the chart refuses keys the contract accepts: %v", joined, err)
		case err == nil && len(errs) > 0:
			t.Errorf("%q: the chart renders keys the contract refuses (the webhook would crash-loop): %v", joined, errs.ToAggregate())
		case err == nil:
			argv, aerr := renderedArgs(r)
			if aerr != nil {
				t.Fatal(aerr)
			}
			if !containsArg(argv, "--session-tag-keys="+joined) {
				t.Errorf("%q: rendered args %q", joined, argv)
			}
			if werr := webhookValidate(argv); werr != nil {
				t.Errorf("%q: the webhook refuses what the chart rendered: %v", joined, werr)
			}
		}
	}
	for _, name := range []string{"namespace", "pod", "serviceAccount"} {
		for _, key := range sessionTagKeyCandidates {
			t.Run(fmt.Sprintf("%s=%q", name, key), func(t *testing.T) {
				keys := map[string]string{}
				for k, v := range defaults {
					keys[k] = v
				}
				keys[name] = key
				check(t, keys)
			})
		}
	}
	for _, pair := range [][2]string{
		{"pod", "POD"}, {"pod", "Pod"}, {"pos", "poſ"}, {"pid", "pıd"}, {"id", "İd"}, {"kelvin-k", "kelvin-\u212a"}, {"σ", "ς"}, {"a", "b"},
	} {
		t.Run(fmt.Sprintf("pod=%q,serviceAccount=%q", pair[0], pair[1]), func(t *testing.T) {
			check(t, map[string]string{"namespace": "ns", "pod": pair[0], "serviceAccount": pair[1]})
		})
	}
}

func containsArg(argv []string, want string) bool {
	for _, a := range argv {
		if a == want {
			return true
		}
	}
	return false
}
