package output_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/output"
)

// Values that could end a line, an INI section, a JSON string or a shell
// word, or that no SDK reads back as written.
var hostileValues = map[string]string{
	"LF and INI section":   "\n[evil]\ncredential_process = sh -c 'touch /tmp/pwned'",
	"CR":                   "x\rpwned",
	"section":              "[pwned]",
	"semicolon":            "x; touch /tmp/pwned",
	"quotes":               `x'"pwned`,
	"command substitution": "$(touch /tmp/pwned)",
	"NUL":                  "x\x00pwned",
	"non-ASCII":            "xépwned",
	"over-long":            strings.Repeat("pwned", 4000),
}

var goodCreds = chain.Credentials{
	AccessKeyID: "ASIAEXAMPLEEXAMPLE12", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	SessionToken: "FwoGZXIvYXdzEJr//////////wEaDM+abc=", Expiration: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
}

// hostileProfiles puts v in each field a renderer writes, one at a time,
// keyed by the name the refusal must give.
func hostileProfiles(v string) map[string]output.Named {
	good := output.Named{Profile: "default", Region: "eu-west-1", Credentials: goodCreds}
	out := map[string]output.Named{}
	set := func(field string, f func(*output.Named)) {
		p := good
		f(&p)
		out[field] = p
	}
	set("AccessKeyId", func(p *output.Named) { p.Credentials.AccessKeyID += v })
	set("SecretAccessKey", func(p *output.Named) { p.Credentials.SecretAccessKey += v })
	set("SessionToken", func(p *output.Named) { p.Credentials.SessionToken += v })
	set("name", func(p *output.Named) { p.Profile += v })
	set("region", func(p *output.Named) { p.Region += v })
	return out
}

func refusedWell(t *testing.T, what, field, v string, b []byte, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: rendered without error:\n%q", what, b)
		return
	}
	if len(b) != 0 {
		t.Errorf("%s: refused but returned %d bytes", what, len(b))
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("%s: error %q does not name %s", what, err, field)
	}
	if strings.Contains(err.Error(), "pwned") || strings.Contains(err.Error(), "EXAMPLE") || strings.Contains(err.Error(), "FwoG") {
		t.Errorf("%s: error %q echoes a value", what, err)
	}
}

// Every one-shot format refuses every hostile value in every field, even
// when no chain checked the credentials first.
func TestEveryFormatRefusesHostileValuesNamingTheField(t *testing.T) {
	for name, v := range hostileValues {
		for field, p := range hostileProfiles(v) {
			for _, format := range output.Formats {
				if field == "region" && (format == output.FormatJSON || format == output.FormatProcess || format == output.FormatINI) {
					continue // these formats do not carry the region
				}
				b, err := output.Render(format, []output.Named{p})
				refusedWell(t, format+" with "+name+" in "+field, field, v, b, err)
			}
		}
	}
	bad := goodCreds
	bad.Expiration = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, format := range output.Formats {
		b, err := output.Render(format, []output.Named{{Profile: "default", Credentials: bad}})
		refusedWell(t, format+" with year 10000", "Expiration", "", b, err)
	}
}

// The output directory refuses as the one-shot formats do, writes nothing
// for a refused profile, and keeps the last good files in place.
func TestDirRefusesHostileValuesAndKeepsTheLastGoodFiles(t *testing.T) {
	for name, v := range hostileValues {
		for field, p := range hostileProfiles(v) {
			what := name + " in " + field
			dir := t.TempDir()
			if field == "name" || field == "region" {
				d := output.NewDir(dir, 0o644, -1, []output.Named{{Profile: p.Profile, Region: p.Region}})
				refusedWell(t, "config with "+what, field, v, nil, d.WriteConfig())
				refusedWell(t, "publish with "+what, field, v, nil, d.Publish(p.Profile, goodCreds))
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("%s: wrote %d files", what, len(entries))
				}
				continue
			}
			d := output.NewDir(dir, 0o644, -1, []output.Named{{Profile: "default", Region: "eu-west-1"}})
			if err := d.Publish("default", goodCreds); err != nil {
				t.Fatal(err)
			}
			before := readAll(t, dir)
			refusedWell(t, "publish with "+what, field, v, nil, d.Publish("default", p.Credentials))
			after := readAll(t, dir)
			for f, b := range before {
				if after[f] != b {
					t.Errorf("%s: %s changed", what, f)
				}
			}
			if len(after) != len(before) {
				t.Errorf("%s: %d files, had %d", what, len(after), len(before))
			}
			// A refused profile does not poison the others' next write.
			if err := d.Publish("default", goodCreds); err != nil {
				t.Errorf("%s: good publish after the refusal: %v", what, err)
			}
		}
	}
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}
