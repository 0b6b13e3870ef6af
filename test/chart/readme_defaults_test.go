package chart

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The Default column of the chart README's values table says what
// values.yaml says: its first code span is the value (`""` for an empty
// string, `[]` and `{}` for empty lists and maps, `[a, b]` for a list of
// scalars). Rows for a map with children (resources) describe it in words
// and are not compared.
func TestTheREADMEsDefaultsAreTheValuesYAMLDefaults(t *testing.T) {
	ch, readme := chartAndREADME(t)
	code := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		key := code.FindStringSubmatch(cells[1])
		if key == nil {
			continue
		}
		v, ok := lookup(ch.Values, key[1])
		if !ok {
			continue // TestEveryValueIsDocumentedInTheREADME reports it
		}
		want, comparable := render(v)
		if !comparable {
			continue
		}
		got := code.FindStringSubmatch(cells[2])
		if got == nil || got[1] != want {
			t.Errorf("charts/rolechain/README.md: %s defaults to `%s` in values.yaml, but its Default cell says %q", key[1], want, strings.TrimSpace(cells[2]))
		}
	}
}

func lookup(values map[string]any, path string) (any, bool) {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// render writes a default as the README does; false for a map with
// children, which a row describes in words.
func render(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return `""`, true
		}
		return x, true
	case map[string]any:
		return "{}", len(x) == 0
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if _, ok := e.(map[string]any); ok {
				return "", false
			}
			parts[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(parts, ", ") + "]", true
	default:
		return fmt.Sprint(x), true
	}
}
