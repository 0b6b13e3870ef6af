package blocks

import (
	"fmt"
	"regexp"
	"strings"
)

// Command is one simple command of a block: leading NAME=value assignments,
// then its words, quotes removed.
type Command struct {
	Line    int // offset of its first line within the block, from 1
	Assign  []string
	Args    []string
	Expands bool // reads a variable or a command's output ($, `)
}

func (c Command) String() string {
	return strings.Join(append(append([]string{}, c.Assign...), c.Args...), " ")
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// Commands splits a block's text into simple commands, the way bash would for
// the subset documentation uses: words, '…' and "…" quotes, backslash escapes
// and line continuations, # comments, and ; & && | || between commands. It
// does not expand anything: a command with $ or ` outside single quotes is
// marked Expands. An unclosed quote is an error.
func Commands(text string) ([]Command, error) {
	var (
		out   []Command
		cur   Command
		word  strings.Builder
		inW   bool
		line  = 1
		words []string
	)
	endWord := func() {
		if inW {
			words = append(words, word.String())
			word.Reset()
			inW = false
		}
	}
	endCmd := func() {
		endWord()
		i := 0
		for i < len(words) && assignment.MatchString(words[i]) {
			i++
		}
		cur.Args = words[i:]
		if i > 0 {
			cur.Assign = words[:i]
		}
		if len(cur.Assign)+len(cur.Args) > 0 {
			out = append(out, cur)
		}
		cur, words = Command{}, nil
	}
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if len(words) == 0 && !inW && cur.Line == 0 && r != ' ' && r != '\t' && r != '\n' {
			cur.Line = line
		}
		switch {
		case r == '\\' && i+1 < len(rs) && rs[i+1] == '\n':
			i++
			line++
		case r == '\\' && i+1 < len(rs):
			i++
			word.WriteRune(rs[i])
			inW = true
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j == len(rs) {
				return nil, fmt.Errorf("line %d: unclosed '", line)
			}
			s := string(rs[i+1 : j])
			line += strings.Count(s, "\n")
			word.WriteString(s)
			inW = true
			i = j
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				switch rs[j] {
				case '\\':
					if j+1 < len(rs) && strings.ContainsRune("$`\"\\\n", rs[j+1]) {
						j++
					} else {
						word.WriteRune('\\')
						continue
					}
				case '$', '`':
					cur.Expands = true
				}
				if rs[j] == '\n' {
					line++
				}
				word.WriteRune(rs[j])
			}
			if j == len(rs) {
				return nil, fmt.Errorf("line %d: unclosed \"", line)
			}
			inW = true
			i = j
		case r == '#' && !inW:
			for i+1 < len(rs) && rs[i+1] != '\n' {
				i++
			}
		case r == '\n':
			endCmd()
			line++
		case r == ' ' || r == '\t':
			endWord()
		case r == ';' || r == '&' || r == '|':
			for i+1 < len(rs) && rs[i+1] == r {
				i++
			}
			endCmd()
		default:
			if r == '$' || r == '`' {
				cur.Expands = true
			}
			word.WriteRune(r)
			inW = true
		}
	}
	endCmd()
	return out, nil
}
