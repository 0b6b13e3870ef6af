package docs

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/rolechain/rolechain/test/docs/blocks"
)

// maxREADMELines keeps the README a page a newcomer reads to the end;
// everything else belongs in docs/.
const maxREADMELines = 250

// The README stays short, and its first lines give the two commands a
// newcomer runs on a fresh machine.
func TestTheREADMEIsShortAndStartsWithTheTwoCommands(t *testing.T) {
	lines := strings.Split(strings.TrimRight(read(t, "README.md"), "\n"), "\n")
	if len(lines) > maxREADMELines {
		t.Errorf("README.md has %d lines, more than %d: move reference material to docs/", len(lines), maxREADMELines)
	}
	head := strings.Join(lines[:min(len(lines), 20)], "\n")
	for _, cmd := range []string{"make demo", "make test"} {
		if !strings.Contains(head, cmd) {
			t.Errorf("README.md's first 20 lines do not give %q", cmd)
		}
	}
}

// userDocs lists the Markdown files a user reads (blocks.UserDocs).
func userDocs(t *testing.T) []string {
	t.Helper()
	files, err := blocks.UserDocs(root)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Every fenced sh block in the user documentation says, on the line before
// it, how it is run (package blocks: against the local stack, by its own make
// target, by make bench, or not at all because it needs AWS), and every block
// marked runnable can be run that way.
func TestEveryShellBlockIsMarkedAndRunnableAsMarked(t *testing.T) {
	bs, errs := blocks.Extract(root)
	for _, err := range errs {
		t.Error(err)
	}
	if len(bs) == 0 {
		t.Error("no sh block found in the user documentation")
	}
}

// The README says make test is every test CI runs: CI's entry point runs it.
func TestCIRunsMakeTest(t *testing.T) {
	if !regexp.MustCompile(`(?m)^make test\b`).MatchString(read(t, ".ci/run")) {
		t.Error(".ci/run does not run make test, which the README's runnable: make block says CI runs")
	}
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link in the user documentation reaches a file that
// exists and, with a #fragment, a heading of that file: moving a section
// must not leave a dead link behind.
func TestEveryRelativeLinkResolves(t *testing.T) {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		a := map[string]bool{}
		b, err := os.ReadFile(filepath.Join(root, file))
		if err == nil {
			fenced := false
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "```") {
					fenced = !fenced
				}
				if lv, text := headingOf(l); lv > 0 && !fenced {
					slug := githubSlug(text)
					for n := 0; a[slug]; n++ { // GitHub numbers repeated headings
						slug = githubSlug(text) + "-" + string(rune('1'+n))
					}
					a[slug] = true
				}
			}
		}
		anchors[file] = a
		return a
	}
	for _, file := range userDocs(t) {
		doc := read(t, file)
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(doc), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p, frag, _ := strings.Cut(target, "#")
			dest := file
			if p != "" {
				dest = path.Clean(path.Join(path.Dir(file), p))
				if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
					t.Errorf("%s links to %s: %s does not exist", file, target, dest)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[frag] {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", file, target, dest, frag)
			}
		}
	}
}

// stripCode removes fenced blocks and code spans, where "](" is code.
func stripCode(doc string) string {
	var b strings.Builder
	fenced := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(codeSpan.ReplaceAllString(l, ""))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// githubSlug is the anchor GitHub (and most forges) give a heading:
// lower case, spaces to hyphens, punctuation other than - and _ dropped.
func githubSlug(heading string) string {
	heading = codeSpan.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
