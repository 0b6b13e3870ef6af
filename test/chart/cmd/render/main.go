// Command render prints the chart's objects rendered from the templates named
// on the command line (all when none), with the values given as JSON by
// -values. It lets tests outside this module (test/integration) install what
// the chart renders without a copy of it: the chart stays the one source.
//
//	go run ./cmd/render -values '{"guard":{"enabled":true}}' rolechain/templates/guard.yaml
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"

	chart "github.com/rolechain/rolechain/test/chart"
)

func main() {
	values := flag.String("values", "{}", "chart values as a JSON object, merged over values.yaml")
	flag.Parse()
	if err := run(*values, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(values string, templates []string) error {
	var v map[string]any
	if err := json.Unmarshal([]byte(values), &v); err != nil {
		return fmt.Errorf("-values: %w", err)
	}
	r, err := chart.Render(v)
	if err != nil {
		return err
	}
	n := 0
	for _, o := range r.Objects {
		if len(templates) == 0 || slices.Contains(templates, o.Template) {
			fmt.Print("---\n", o.YAML)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no object rendered from %v", templates)
	}
	return nil
}
