// Package blocks extracts the fenced shell blocks of the user documentation
// and says, for each, how it is run. Every sh/bash/shell block is preceded by
// one marker line:
//
//	<!-- runnable -->         run against the local stack by test/e2e/docblocks.sh (make e2e)
//	<!-- runnable: make -->   make targets that bring up their own stack (make demo, make test),
//	                          so they cannot run inside make test; checked to be Makefile targets
//	<!-- runnable: bench -->  what make bench runs, checked against the Makefile's bench recipe
//	<!-- needs AWS -->        needs an AWS account, or a cluster or registry of the reader's own
//
// A runnable block is only accepted when the runner knows how to undo what it
// does (see Check): a block that cannot be run is an error, never skipped.
package blocks

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Class says how a block is run.
type Class string

const (
	Stack    Class = "runnable"
	Make     Class = "runnable: make"
	Bench    Class = "runnable: bench"
	NeedsAWS Class = "needs AWS"
)

// classes maps each marker line to its class.
var classes = map[string]Class{
	"<!-- runnable -->":        Stack,
	"<!-- runnable: make -->":  Make,
	"<!-- runnable: bench -->": Bench,
	"<!-- needs AWS -->":       NeedsAWS,
}

// Markers lists the accepted marker lines, for error messages.
const Markers = "<!-- runnable -->, <!-- runnable: make -->, <!-- runnable: bench --> or <!-- needs AWS -->"

// Block is one fenced shell block.
type Block struct {
	File  string // relative to the repository root, with slashes
	Line  int    // 1-based line of the opening fence
	Class Class
	Text  string // the lines between the fences, each ending in a newline
}

// Where is file:line of the block's opening fence.
func (b Block) Where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// Parse returns the shell blocks of one Markdown file, and an error for each
// block without a marker, with an unknown marker, or left unclosed.
func Parse(file, content string) ([]Block, []error) {
	var (
		out  []Block
		errs []error
	)
	lines := strings.Split(content, "\n")
	for i := 0; i < len(lines); i++ {
		fence := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(fence, "```") {
			continue
		}
		// Find the closing fence of any fenced block, shell or not, so that a
		// shell fence shown inside another block is not taken for a block: a
		// line of only backticks, at least as many as the opening fence's
		// (CommonMark).
		ticks := len(fence) - len(strings.TrimLeft(fence, "`"))
		end := i + 1
		for end < len(lines) && !isClosingFence(strings.TrimSpace(lines[end]), ticks) {
			end++
		}
		lang := strings.TrimSpace(fence[ticks:])
		if lang == "sh" || lang == "bash" || lang == "shell" {
			b := Block{File: file, Line: i + 1}
			if end == len(lines) {
				errs = append(errs, fmt.Errorf("%s: sh block never closed", b.Where()))
				break
			}
			prev := ""
			if i > 0 {
				prev = strings.TrimSpace(lines[i-1])
			}
			class, ok := classes[prev]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: sh block without %s on the line before", b.Where(), Markers))
			}
			b.Class = class
			for _, l := range lines[i+1 : end] {
				b.Text += l + "\n"
			}
			if ok {
				out = append(out, b)
			}
		}
		i = end
	}
	return out, errs
}

func isClosingFence(l string, ticks int) bool {
	return len(l) >= ticks && strings.Trim(l, "`") == ""
}

// UserDocs lists the Markdown files a user reads, relative to root: the
// README, docs/ (not docs/drafts/, which other people write), the chart's
// README and the benchmarks' READMEs.
func UserDocs(root string) ([]string, error) {
	files := []string{"README.md", "charts/rolechain/README.md"}
	for _, dir := range []string{"docs", "test/bench"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "drafts" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".md") {
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// Extract parses every user document under root and checks every runnable
// block. It returns the blocks in document order and every problem found.
func Extract(root string) ([]Block, []error) {
	files, err := UserDocs(root)
	if err != nil {
		return nil, []error{err}
	}
	checker, err := NewChecker(root)
	if err != nil {
		return nil, []error{err}
	}
	var (
		all  []Block
		errs []error
	)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		blocks, perrs := Parse(f, string(b))
		errs = append(errs, perrs...)
		for _, bl := range blocks {
			if _, err := checker.Check(bl); err != nil {
				errs = append(errs, err)
			}
		}
		all = append(all, blocks...)
	}
	return all, errs
}
