// Package docs holds the tests that keep the documentation true to the code:
// every annotation key declared in webhook/annotations/keys.go, every flag of
// the two binaries (read from their real flag sets) and every field of the
// status annotation is documented in docs/reference.md, and nothing is
// documented there that does not exist.
package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	sidecarapp "github.com/rolechain/rolechain/cmd/sidecar/app"
	webhookapp "github.com/rolechain/rolechain/cmd/webhook/app"
	"github.com/rolechain/rolechain/sidecar/options"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// referenceFile is where the reference lives; a variable so that a reader
// can point the tests at another file (they fail on the README of before
// docs/reference.md existed).
var referenceFile = "docs/reference.md"

// declaredKeys parses keys.go and returns the value of every string
// constant that is an annotation key: Prefix + "…", or a literal holding a
// '/' (the ServiceAccount's eks.amazonaws.com/role-arn). Parsing the file,
// not calling Keys(), catches a key declared but left out of Keys().
func declaredKeys(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "webhook/annotations/keys.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{} // value → const name
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, v := range vs.Values {
				name := vs.Names[i].Name
				switch e := v.(type) {
				case *ast.BinaryExpr:
					id, ok := e.X.(*ast.Ident)
					lit, ok2 := e.Y.(*ast.BasicLit)
					if ok && ok2 && id.Name == "Prefix" && e.Op == token.ADD && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						keys[annotations.Prefix+s] = name
					}
				case *ast.BasicLit:
					if s, _ := strconv.Unquote(e.Value); e.Kind == token.STRING && strings.Contains(s, "/") && name != "Prefix" {
						keys[s] = name
					}
				}
			}
		}
	}
	if len(keys) < 20 {
		t.Fatalf("found only %d keys in keys.go: has its form changed?", len(keys))
	}
	return keys
}

// Every annotation key keys.go declares has a row in the reference's
// tables (pod, ServiceAccount, Namespace), and every row names a declared
// key; the "Per profile" column says yes exactly for the keys that take a
// ".<profile>" suffix.
func TestEveryAnnotationKeyIsDocumentedAndEveryDocumentedKeyExists(t *testing.T) {
	doc := read(t, referenceFile)
	declared := declaredKeys(t)
	for _, k := range annotations.Keys() {
		if _, ok := declared[k]; !ok {
			t.Errorf("annotations.Keys() returns %s, which keys.go does not declare as a constant", k)
		}
	}
	documented := map[string]bool{}
	perProfile := map[string]bool{}
	for _, heading := range []string{"On the pod", "On the ServiceAccount", "On the Namespace"} {
		for _, row := range tableRows(t, section(t, doc, referenceFile, heading), referenceFile+" "+heading) {
			k := firstCode(row[0])
			if k == "" {
				t.Errorf("%s, %s: row without a key in its first cell: %q", referenceFile, heading, row[0])
				continue
			}
			if documented[k] {
				t.Errorf("%s documents %s twice", referenceFile, k)
			}
			documented[k] = true
			if heading == "On the pod" && len(row) > 1 && strings.HasPrefix(row[1], "yes") {
				perProfile[k] = true
			}
		}
	}
	for k, name := range declared {
		if !documented[k] {
			t.Errorf("annotation %s (annotations.%s in keys.go) has no row in %s", k, name, referenceFile)
		}
	}
	for k := range documented {
		if _, ok := declared[k]; !ok {
			t.Errorf("%s documents annotation %s, which keys.go does not declare", referenceFile, k)
		}
	}
	want := annotations.PerProfileKeys()
	for _, k := range want {
		if !perProfile[k] {
			t.Errorf("%s: %s takes a .<profile> suffix (annotations.PerProfileKeys) but its Per profile cell is not yes", referenceFile, k)
		}
	}
	for k := range perProfile {
		if !slices.Contains(want, k) {
			t.Errorf("%s: %s is documented per profile, but annotations.PerProfileKeys does not list it", referenceFile, k)
		}
	}
}

// The README's short annotation table names only keys that exist, and
// every key a pod sets (rolechain.dev/status is the webhook's).
func TestTheREADMEsAnnotationTableMatchesTheKeys(t *testing.T) {
	doc := read(t, "README.md")
	rows := tableRows(t, section(t, doc, "README.md", "Annotations"), "README.md Annotations")
	declared := declaredKeys(t)
	documented := map[string]bool{}
	for _, row := range rows {
		k := firstCode(row[0])
		if _, ok := declared[k]; !ok {
			t.Errorf("README.md's annotation table names %q, which keys.go does not declare", k)
		}
		documented[k] = true
	}
	for _, k := range annotations.Keys() {
		if k != annotations.Status && !documented[k] {
			t.Errorf("README.md's annotation table has no row for %s", k)
		}
	}
}

// flags returns the flags of a command's flag set, as the binary parses
// them (help and version are cobra's, added at execution).
func flags(fs *pflag.FlagSet) map[string]*pflag.Flag {
	out := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = f })
	return out
}

// checkFlagTable compares a reference table of flags with a real flag set:
// the first cell names the flag (`--name`), the cell at defaultCol its
// default: the flag's default as a code span (durations compared as
// durations, lists without brackets), or "none" when the flag has none.
func checkFlagTable(t *testing.T, heading string, real map[string]*pflag.Flag, defaultCol int, extra func(row []string, f *pflag.Flag)) {
	t.Helper()
	doc := read(t, referenceFile)
	seen := map[string]bool{}
	for _, row := range tableRows(t, section(t, doc, referenceFile, heading), referenceFile+" "+heading) {
		name := strings.TrimPrefix(firstCode(row[0]), "--")
		f, ok := real[name]
		if !ok {
			t.Errorf("%s, %s: documents --%s, which the binary does not have", referenceFile, heading, name)
			continue
		}
		seen[name] = true
		if len(row) <= defaultCol {
			t.Errorf("%s, %s: row of --%s has no default column", referenceFile, heading, name)
			continue
		}
		checkDefault(t, heading, f, row[defaultCol])
		if extra != nil {
			extra(row, f)
		}
	}
	var missing []string
	for name := range real {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, name := range missing {
		t.Errorf("%s, %s: flag --%s (%q) is not documented", referenceFile, heading, name, real[name].Usage)
	}
}

func checkDefault(t *testing.T, heading string, f *pflag.Flag, cell string) {
	t.Helper()
	def := f.DefValue
	if strings.HasSuffix(f.Value.Type(), "Slice") || f.Value.Type() == "strings" {
		def = strings.TrimSuffix(strings.TrimPrefix(def, "["), "]")
	}
	if def == "" {
		if !strings.HasPrefix(cell, "none") {
			t.Errorf("%s: --%s has no default; its Default cell must start with \"none\", not %q", heading, f.Name, cell)
		}
		return
	}
	got := firstCode(cell)
	if f.Value.Type() == "duration" {
		want, err1 := time.ParseDuration(def)
		have, err2 := time.ParseDuration(got)
		if err1 == nil && err2 == nil && want == have {
			return
		}
	}
	if got != def {
		t.Errorf("%s: --%s defaults to %q, but its Default cell says %q", heading, f.Name, def, cell)
	}
}

// Every flag of rolechain-webhook (its options, the log flags) is in the
// reference with its default, and every flag there exists.
func TestEveryWebhookFlagIsDocumented(t *testing.T) {
	cmd := webhookapp.NewCommand(nil)
	checkFlagTable(t, "Webhook flags", flags(cmd.Flags()), 1, nil)
}

// Every flag of rolechain-sidecar is in the reference with its default and
// its ROLECHAIN_* variable, and every flag there exists.
func TestEverySidecarFlagIsDocumented(t *testing.T) {
	cmd := sidecarapp.NewCommand(sidecarapp.Env{}, nil)
	checkFlagTable(t, "Sidecar flags", flags(cmd.PersistentFlags()), 2, func(row []string, f *pflag.Flag) {
		if got, want := firstCode(row[1]), options.EnvName(f.Name); got != want {
			t.Errorf("Sidecar flags: --%s is set by %s, but the Variable cell says %q", f.Name, want, row[1])
		}
	})
}

// jsonFields returns the JSON names of a struct's fields, nested structs
// (and pointers to them) as "parent.child".
func jsonFields(typ reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft, prefix+name+".")...)
		}
	}
	return out
}

// Every field the webhook writes into rolechain.dev/status (inject.Status,
// with its nested objects) has a row in the reference, and every row is a
// field.
func TestEveryStatusFieldIsDocumented(t *testing.T) {
	doc := read(t, referenceFile)
	real := jsonFields(reflect.TypeOf(inject.Status{}), "")
	seen := map[string]bool{}
	for _, row := range tableRows(t, section(t, doc, referenceFile, "The status annotation"), referenceFile+" status") {
		name := firstCode(row[0])
		if !slices.Contains(real, name) {
			t.Errorf("%s documents status field %q, which inject.Status does not have", referenceFile, name)
		}
		seen[name] = true
	}
	for _, name := range real {
		if !seen[name] {
			t.Errorf("status field %s (inject.Status) has no row in %s", name, referenceFile)
		}
	}
}
