package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// Every value in values.yaml has a row in the chart README's table (a row
// for a parent key, such as resources, covers its children), so the
// documentation cannot fall behind the chart.
func TestEveryValueIsDocumentedInTheREADME(t *testing.T) {
	ch, readme := chartAndREADME(t)
	documented := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `") {
			key, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			documented[key] = true
		}
	}
	for top, v := range ch.Values {
		for _, leaf := range leaves(top, v) {
			covered := false
			for p := leaf; p != ""; {
				if documented[p] {
					covered = true
					break
				}
				i := strings.LastIndex(p, ".")
				if i < 0 {
					break
				}
				p = p[:i]
			}
			if !covered {
				t.Errorf("value %s has no row in charts/rolechain/README.md", leaf)
			}
		}
	}
	for key := range documented {
		if !hasPath(ch.Values, key) {
			t.Errorf("README documents %s, which values.yaml does not have", key)
		}
	}
}

func hasPath(values map[string]any, path string) bool {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

// chartAndREADME loads the chart and its README, which the tests of the
// values table compare.
func chartAndREADME(t *testing.T) (*chart.Chart, []byte) {
	t.Helper()
	ch, err := loader.Load(ChartDir())
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(ChartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return ch, readme
}
