package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository root, from this package's directory.
const root = "../.."

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the lines under the heading whose text is exactly
// heading (any level), up to the next heading of the same or a higher
// level. Lines inside fenced blocks are never headings.
func section(t *testing.T, doc, file, heading string) []string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	level := 0
	var out []string
	fenced := false
	for _, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		lv, text := headingOf(l)
		if !fenced && lv > 0 {
			if level > 0 && lv <= level {
				break
			}
			if level == 0 && text == heading {
				level = lv
				continue
			}
		}
		if level > 0 {
			out = append(out, l)
		}
	}
	if level == 0 {
		t.Fatalf("%s has no heading %q", file, heading)
	}
	return out
}

func headingOf(line string) (level int, text string) {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || len(line) == n || line[n] != ' ' {
		return 0, ""
	}
	return n, strings.TrimSpace(line[n:])
}

// tableRows returns the cells of each body row of the first table in
// lines (header and delimiter rows skipped). "\|" inside a cell stays in it.
func tableRows(t *testing.T, lines []string, where string) [][]string {
	t.Helper()
	var rows [][]string
	inTable := false
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			if inTable {
				break
			}
			continue
		}
		if !inTable {
			inTable = true
			continue // header
		}
		cells := splitRow(l)
		if len(cells) > 0 && strings.Trim(cells[0], "-: ") == "" {
			continue // delimiter
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table", where)
	}
	return rows
}

func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			cur.WriteByte('|')
			i++
		case l[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(l[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

// firstCode returns the first code span of a cell, or "" if it has none.
func firstCode(cell string) string {
	m := codeSpan.FindStringSubmatch(cell)
	if m == nil {
		return ""
	}
	return m[1]
}

// codes returns every code span of a cell.
func codes(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}
