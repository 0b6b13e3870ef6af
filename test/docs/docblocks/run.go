package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rolechain/rolechain/test/docs/blocks"
)

// all extracts every block under root, or every problem found.
func all(root string) ([]blocks.Block, error) {
	bs, errs := blocks.Extract(root)
	return bs, errors.Join(errs...)
}

func list(root string, w io.Writer) error {
	bs, err := all(root)
	for _, b := range bs {
		fmt.Fprintf(w, "%s\t%s\n", b.Where(), b.Class)
		for _, l := range strings.SplitAfter(strings.TrimSuffix(b.Text, "\n"), "\n") {
			fmt.Fprintf(w, "\t%s", strings.TrimSuffix(l, "\n")+"\n")
		}
	}
	return err
}

// extract writes each runnable block to dir/NNN.sh, and dir/plan, one
// tab-separated line per fact, for the runner:
//
//	block       NNN  file:line  release|-   (release: it upgrades the stack's release)
//	annotation  NAMESPACE  KEY              (a namespace annotation some block sets or removes)
func extract(root, dir string) error {
	bs, err := all(root)
	if err != nil {
		return err
	}
	checker, err := blocks.NewChecker(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var plan strings.Builder
	seen := map[[2]string]bool{}
	var annotations [][2]string
	n := 0
	for _, b := range bs {
		if b.Class != blocks.Stack {
			continue
		}
		ch, err := checker.Check(b)
		if err != nil {
			return err
		}
		n++
		id := fmt.Sprintf("%03d", n)
		if err := os.WriteFile(filepath.Join(dir, id+".sh"), []byte(b.Text), 0o644); err != nil {
			return err
		}
		release := "-"
		if ch.UpgradesRelease {
			release = "release"
		}
		fmt.Fprintf(&plan, "block\t%s\t%s\t%s\n", id, b.Where(), release)
		for _, a := range ch.Annotations {
			if !seen[a] {
				seen[a] = true
				annotations = append(annotations, a)
			}
		}
	}
	for _, a := range annotations {
		fmt.Fprintf(&plan, "annotation\t%s\t%s\n", a[0], a[1])
	}
	return os.WriteFile(filepath.Join(dir, "plan"), []byte(plan.String()), 0o644)
}
