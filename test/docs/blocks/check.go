package blocks

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The Helm release the local stack installs (test/stack.sh --e2e), the one a
// runnable block may upgrade: the runner rolls it back afterwards.
const (
	Release          = "rolechain"
	ReleaseNamespace = "rolechain-system"
	Chart            = "charts/rolechain"
)

// Change is what a runnable block changes on the stack, for the runner to
// create beforehand and restore afterwards.
type Change struct {
	UpgradesRelease bool
	// Annotations lists the namespace annotations the block sets or removes,
	// as namespace and key: the runner creates the namespace when it is
	// missing and gives each key back its value from before.
	Annotations [][2]string
}

// Checker checks blocks against what runs them: the runner's rules for
// runnable blocks, the Makefile for make and bench blocks.
type Checker struct {
	targets map[string]bool // Makefile targets with a "## target:" description
	bench   [][]string      // the bench recipe's commands, as words
}

// NewChecker reads root's Makefile.
func NewChecker(root string) (*Checker, error) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return nil, err
	}
	return newChecker(string(b))
}

var (
	documentedTarget = regexp.MustCompile(`(?m)^## ([A-Za-z0-9_-]+)(?: / [A-Za-z0-9_-]+)*:`)
	targetLine       = regexp.MustCompile(`^([A-Za-z0-9_-]+):`)
	makeVar          = regexp.MustCompile(`^\$\([A-Za-z0-9_]+\)$`)
)

func newChecker(makefile string) (*Checker, error) {
	c := &Checker{targets: map[string]bool{}}
	for _, m := range documentedTarget.FindAllStringSubmatch(makefile, -1) {
		c.targets[m[1]] = true
		// "## cluster-up / cluster-down:" documents both.
		for _, t := range strings.Split(strings.TrimPrefix(m[0], "## "), " / ") {
			c.targets[strings.TrimSuffix(t, ":")] = true
		}
	}
	lines := strings.Split(makefile, "\n")
	for i, l := range lines {
		if m := targetLine.FindStringSubmatch(l); m == nil || m[1] != "bench" {
			continue
		}
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			// Make's $$ is the shell's $.
			cmds, err := Commands(strings.ReplaceAll(strings.TrimPrefix(r, "\t"), "$$", "$"))
			if err != nil {
				return nil, fmt.Errorf("Makefile bench recipe %q: %w", r, err)
			}
			for _, cmd := range cmds {
				c.bench = append(c.bench, append(names(cmd.Assign), cmd.Args...))
			}
		}
	}
	if len(c.bench) == 0 {
		return nil, fmt.Errorf("Makefile: no bench target with a recipe")
	}
	return c, nil
}

// names keeps the NAME= of each assignment.
func names(assign []string) []string {
	var out []string
	for _, a := range assign {
		n, _, _ := strings.Cut(a, "=")
		out = append(out, n+"=")
	}
	return out
}

// Check says whether a block can be run the way its marker says, and what a
// runnable block changes. Blocks marked needs AWS are never run: no check.
func (c *Checker) Check(b Block) (Change, error) {
	var ch Change
	if b.Class == NeedsAWS {
		return ch, nil
	}
	cmds, err := Commands(b.Text)
	if err != nil {
		return ch, fmt.Errorf("%s: %w", b.Where(), err)
	}
	if len(cmds) == 0 {
		return ch, fmt.Errorf("%s: %s block has no command", b.Where(), b.Class)
	}
	for _, cmd := range cmds {
		at := fmt.Sprintf("%s:%d: %q", b.File, b.Line+cmd.Line, cmd.String())
		switch b.Class {
		case Stack:
			if err := stackCommand(cmd, &ch); err != nil {
				return ch, fmt.Errorf("%s: cannot run against the local stack: %v; mark it %s or teach test/docs/blocks how to undo it", at, err, Markers)
			}
		case Make:
			if len(cmd.Args) < 2 || cmd.Args[0] != "make" || !c.targets[cmd.Args[1]] {
				return ch, fmt.Errorf("%s: a runnable: make block runs `make TARGET` of a target the Makefile documents (## TARGET:)", at)
			}
			for _, a := range cmd.Args[2:] {
				if !assignment.MatchString(a) {
					return ch, fmt.Errorf("%s: after the target only VAR=value", at)
				}
			}
		case Bench:
			if !c.inBench(cmd) {
				return ch, fmt.Errorf("%s: not one of the commands of the Makefile's bench target (%s)", at, c.benchList())
			}
		}
	}
	return ch, nil
}

// inBench says whether cmd is a command of the bench recipe, with its
// make variables ($(GO_PKGS), $(BENCH_FLAGS)) standing for any words and its
// variables given other values.
func (c *Checker) inBench(cmd Command) bool {
	got := append(names(cmd.Assign), cmd.Args...)
	for _, want := range c.bench {
		if matchWords(want, got) {
			return true
		}
	}
	return false
}

func (c *Checker) benchList() string {
	var s []string
	for _, w := range c.bench {
		s = append(s, strings.Join(w, " "))
	}
	return strings.Join(s, "; ")
}

// matchWords matches got against pattern, where a $(VAR) word matches any
// run of words (none included), and an assignment NAME= in got must be one
// of the pattern's.
func matchWords(pattern, got []string) bool {
	pa, pw := splitAssign(pattern)
	ga, gw := splitAssign(got)
	for _, a := range ga {
		found := false
		for _, p := range pa {
			found = found || p == a
		}
		if !found {
			return false
		}
	}
	var match func(p, g []string) bool
	match = func(p, g []string) bool {
		if len(p) == 0 {
			return len(g) == 0
		}
		if makeVar.MatchString(p[0]) {
			for n := 0; n <= len(g); n++ {
				if match(p[1:], g[n:]) {
					return true
				}
			}
			return false
		}
		return len(g) > 0 && p[0] == g[0] && match(p[1:], g[1:])
	}
	return match(pw, gw)
}

func splitAssign(w []string) (assign, words []string) {
	i := 0
	for i < len(w) && strings.HasSuffix(w[i], "=") && assignment.MatchString(w[i]) {
		i++
	}
	return w[:i], w[i:]
}

// stackCommand accepts the commands the runner can run on the local stack and
// undo: upgrades of the stack's release (rolled back), namespace annotations
// (given back), and commands that only read.
func stackCommand(cmd Command, ch *Change) error {
	if len(cmd.Assign) > 0 {
		return fmt.Errorf("sets %s", strings.Join(cmd.Assign, " "))
	}
	if cmd.Expands {
		return fmt.Errorf("reads a variable or a command's output, which the runner does not provide")
	}
	args := cmd.Args
	if len(args) < 2 {
		return fmt.Errorf("only helm and kubectl commands are run")
	}
	switch args[0] {
	case "helm":
		switch args[1] {
		case "status", "get", "history", "list", "template", "lint", "show":
			return nil
		case "upgrade":
			pos, flags := positional(args[2:], "-n", "--namespace", "-f", "--values", "--set", "--set-string", "--timeout", "--version")
			if len(pos) != 2 || pos[0] != Release || pos[1] != Chart {
				return fmt.Errorf("helm upgrade of the release %s with the chart %s only", Release, Chart)
			}
			if ns := flags["-n"] + flags["--namespace"]; ns != ReleaseNamespace {
				return fmt.Errorf("helm upgrade in the namespace %s only (-n %s)", ReleaseNamespace, ReleaseNamespace)
			}
			if _, ok := flags["--reuse-values"]; !ok {
				return fmt.Errorf("helm upgrade without --reuse-values would drop the stack's values (its local images)")
			}
			for _, f := range []string{"-f", "--values"} {
				if _, ok := flags[f]; ok {
					return fmt.Errorf("helm upgrade %s reads a file the reader writes", f)
				}
			}
			ch.UpgradesRelease = true
			return nil
		}
		return fmt.Errorf("helm %s", args[1])
	case "kubectl":
		switch args[1] {
		case "get", "describe", "explain", "version", "api-resources", "api-versions":
			return nil
		case "annotate":
			pos, _ := positional(args[2:], "-n", "--namespace", "-l", "--selector", "-o", "--output", "--field-manager")
			if len(pos) > 0 {
				if kind, name, ok := strings.Cut(pos[0], "/"); ok {
					pos = append([]string{kind, name}, pos[1:]...)
				}
			}
			if len(pos) < 3 || (pos[0] != "namespace" && pos[0] != "namespaces" && pos[0] != "ns") {
				return fmt.Errorf("kubectl annotate of one namespace only (kubectl annotate namespace NAME KEY=VALUE …)")
			}
			for _, kv := range pos[2:] {
				key, _, ok := strings.Cut(kv, "=")
				if !ok {
					if key, ok = strings.CutSuffix(kv, "-"); !ok {
						return fmt.Errorf("kubectl annotate of one namespace only: %q is not KEY=VALUE or KEY-", kv)
					}
				}
				ch.Annotations = append(ch.Annotations, [2]string{pos[1], key})
			}
			return nil
		}
		return fmt.Errorf("kubectl %s", args[1])
	}
	return fmt.Errorf("only helm and kubectl commands are run, not %s", args[0])
}

// positional splits words into positional arguments and flags; the flags
// listed take the next word as their value unless given as --flag=value.
func positional(words []string, withValue ...string) ([]string, map[string]string) {
	var pos []string
	flags := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			pos = append(pos, w)
			continue
		}
		name, value, eq := strings.Cut(w, "=")
		if !eq {
			for _, f := range withValue {
				if f == name && i+1 < len(words) {
					i++
					value = words[i]
				}
			}
		}
		flags[name] += value
	}
	return pos, flags
}
