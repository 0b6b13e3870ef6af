package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rolechain/rolechain/internal/atomicfile"
	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/chain"
)

// JSONFileName is the per-profile CredentialsJSON file in the output
// directory: "<profile>.json".
func JSONFileName(profileName string) string { return profileName + ".json" }

// ProcessFileName is the per-profile credential_process file:
// "<profile>.process.json" (use: credential_process = cat /var/run/rolechain/<profile>.process.json).
func ProcessFileName(profileName string) string { return profileName + ".process.json" }

// Dir keeps the output directory in step with the current credentials of
// every profile:
//
//	credentials              INI, a section per profile that has valid credentials
//	config                   INI, a section per profile with its region
//	<profile>.json           CredentialsJSON
//	<profile>.process.json   ProcessJSON (credential_process)
//
// A profile without valid credentials has no section in credentials and no
// JSON files: files on disk are valid or absent. Dir is safe for concurrent
// use by the refresh loops of several profiles.
type Dir struct {
	path     string
	mode     os.FileMode
	gid      int
	profiles []Named // names and regions, in configuration order

	mu      sync.Mutex
	current map[string]chain.Credentials
}

// NewDir returns a Dir for profiles (Credentials ignored) writing files with
// mode and, when gid ≥ 0, that group.
func NewDir(path string, mode os.FileMode, gid int, profiles []Named) *Dir {
	return &Dir{path: path, mode: mode, gid: gid, profiles: profiles, current: map[string]chain.Credentials{}}
}

// WriteConfig writes the config file; it does not change after start.
func (d *Dir) WriteConfig() error {
	b, err := ConfigINI(d.profiles)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d.path, contract.ConfigFileName), b, d.mode, d.gid)
}

// Publish makes c the credentials of profile name on disk. The JSON file is
// written last: the probe reads it, so when the probe passes every file of
// the profile is in place.
func (d *Dir) Publish(name string, c chain.Credentials) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Render every file before writing any, and keep c out of current
	// until all of them rendered: a refused answer leaves the last good
	// files in place and cannot stop the other profiles' next writes.
	i := slices.IndexFunc(d.profiles, func(p Named) bool { return p.Profile == name })
	if i < 0 {
		if err := checkProfile(len(d.profiles), Named{Profile: name}); err != nil {
			return err
		}
		return fmt.Errorf("publishing credentials: profile %s is not configured", name)
	}
	p := Named{Profile: name, Region: d.profiles[i].Region, Credentials: c}
	process, err := Process(p)
	if err != nil {
		return err
	}
	js, err := JSON(p)
	if err != nil {
		return err
	}
	prev, had := d.current[name]
	d.current[name] = c
	if err := d.writeCredentials(); err != nil {
		if had {
			d.current[name] = prev
		} else {
			delete(d.current, name)
		}
		return err
	}
	if err := atomicfile.Write(filepath.Join(d.path, ProcessFileName(name)), process, d.mode, d.gid); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d.path, JSONFileName(name)), js, d.mode, d.gid)
}

// Withdraw removes profile name's credentials from disk (they expired and
// could not be renewed). The JSON file goes first, so the probe fails first.
func (d *Dir) Withdraw(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.current, name)
	return errors.Join(
		atomicfile.Remove(filepath.Join(d.path, JSONFileName(name))),
		atomicfile.Remove(filepath.Join(d.path, ProcessFileName(name))),
		d.writeCredentials(),
	)
}

func (d *Dir) writeCredentials() error {
	var have []Named
	for _, p := range d.profiles {
		if c, ok := d.current[p.Profile]; ok {
			have = append(have, Named{Profile: p.Profile, Region: p.Region, Credentials: c})
		}
	}
	b, err := CredentialsINI(have)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d.path, contract.CredentialsFileName), b, d.mode, d.gid)
}

// Check is the probe: it returns nil only if every named profile has a
// JSON file in dir whose expiration is after now, and otherwise an error
// naming each profile that does not.
func Check(dir string, names []string, now time.Time) error {
	var errs []error
	for _, name := range names {
		p := filepath.Join(dir, JSONFileName(name))
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("profile %s: no credentials: %w", name, err))
			continue
		}
		var c CredentialsJSON
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKeyID == "" {
			errs = append(errs, fmt.Errorf("profile %s: %s is not a credentials file", name, p))
			continue
		}
		if exp := time.Unix(c.Expiration, 0); !exp.After(now) {
			errs = append(errs, fmt.Errorf("profile %s: credentials expired at %s", name, exp.UTC().Format(time.RFC3339)))
		}
	}
	return errors.Join(errs...)
}
