// Command manifests writes manifests/ (kustomize base and overlays) from the
// chart's defaults, and removes generated files that are no longer rendered.
// Run it through manifests/generate.sh after changing the chart.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	chart "github.com/rolechain/rolechain/test/chart"
)

func main() {
	if err := run(chart.RepoRoot()); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := chart.GenerateManifests()
	if err != nil {
		return err
	}
	existing, err := chart.GeneratedFilesOnDisk(root)
	if err != nil {
		return err
	}
	for _, p := range existing {
		if _, keep := files[p]; !keep {
			if err := os.Remove(filepath.Join(root, p)); err != nil {
				return err
			}
			fmt.Println("removed", p)
		}
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if old, err := os.ReadFile(full); err == nil && string(old) == string(content) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, content, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", strings.TrimPrefix(p, root))
	}
	return nil
}
