// Command docblocks lists the fenced shell blocks of the user documentation
// (package test/docs/blocks) and writes the runnable ones out for
// test/e2e/docblocks.sh. Run from the repository root:
//
//	go run ./test/docs/docblocks list         every block: file:line, class, text
//	go run ./test/docs/docblocks extract DIR  the runnable blocks as DIR/NNN.sh, and DIR/plan
//
// Both exit 1, naming each, on a block without a marker or a runnable block
// that cannot be run.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "docblocks:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 1 && args[0] == "list":
		return list(".", os.Stdout)
	case len(args) == 2 && args[0] == "extract":
		return extract(".", args[1])
	}
	return fmt.Errorf("usage: docblocks list | docblocks extract DIR")
}
