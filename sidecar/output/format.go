package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/credcheck"
)

// Named is one profile's credentials.
type Named struct {
	Profile     string
	Region      string
	Credentials chain.Credentials
}

// Formats of the one-shot mode (--format).
const (
	FormatINI     = "ini"
	FormatJSON    = "json"
	FormatEnv     = "env"
	FormatProcess = "process"
)

// Formats lists every --format value.
var Formats = []string{FormatINI, FormatJSON, FormatEnv, FormatProcess}

// Every renderer checks what it writes and refuses, with an error that
// names the field and never its value, anything that could end a line, an
// INI section, a JSON string or a shell word, even if its caller forgot
// the chain's check: credentials by sidecar/credcheck's rules (the chain's
// own), profile names and regions by the contract's.

// checkProfile checks what a file says about profile i besides its keys.
func checkProfile(i int, p Named) error {
	if !contract.ValidProfileName(p.Profile) {
		return fmt.Errorf("profile #%d: refused: name must be 1 to 63 characters of [A-Za-z0-9_.-] beginning with a letter or digit", i+1)
	}
	if p.Region != "" && !contract.ValidRegion(p.Region) {
		return fmt.Errorf("profile %s: refused: region must look like eu-west-1", p.Profile)
	}
	return nil
}

// checkCredentials checks profile i's name, region and keys.
func checkCredentials(i int, p Named) error {
	if err := checkProfile(i, p); err != nil {
		return err
	}
	c := p.Credentials
	if err := credcheck.Check(c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration, credcheck.Temporary); err != nil {
		return fmt.Errorf("profile %s: %w", p.Profile, err)
	}
	return nil
}

// CredentialsINI renders the shared credentials file (AWS_SHARED_CREDENTIALS_FILE)
// with one section per profile.
func CredentialsINI(profiles []Named) ([]byte, error) {
	var b bytes.Buffer
	for i, p := range profiles {
		if err := checkCredentials(i, p); err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
			p.Profile, p.Credentials.AccessKeyID, p.Credentials.SecretAccessKey, p.Credentials.SessionToken)
	}
	return b.Bytes(), nil
}

// ConfigINI renders the config file (AWS_CONFIG_FILE): "[default]" for the
// default profile and "[profile NAME]" for others, as the SDKs expect.
func ConfigINI(profiles []Named) ([]byte, error) {
	var b bytes.Buffer
	for i, p := range profiles {
		if err := checkProfile(i, p); err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Profile == "default" {
			b.WriteString("[default]\n")
		} else {
			fmt.Fprintf(&b, "[profile %s]\n", p.Profile)
		}
		if p.Region != "" {
			fmt.Fprintf(&b, "region = %s\n", p.Region)
		}
	}
	return b.Bytes(), nil
}

// CredentialsJSON is the per-profile JSON file: snake_case keys and the
// expiration in Unix seconds, easy to read from a shell or any language.
type CredentialsJSON struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Expiration      int64  `json:"expiration"`
}

// JSON renders CredentialsJSON for profile p.
func JSON(p Named) ([]byte, error) {
	if err := checkCredentials(0, p); err != nil {
		return nil, err
	}
	c := p.Credentials
	b, err := json.MarshalIndent(CredentialsJSON{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.Unix()}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ProcessJSON is the credential_process output the SDKs run and cache until
// Expiration.
type ProcessJSON struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// Process renders ProcessJSON for profile p.
func Process(p Named) ([]byte, error) {
	if err := checkCredentials(0, p); err != nil {
		return nil, err
	}
	c := p.Credentials
	b, err := json.MarshalIndent(ProcessJSON{1, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Env renders shell lines for eval: the SDKs' environment variables, and
// AWS_REGION when the profile has one. Values are checked and quoted too.
func Env(p Named) ([]byte, error) {
	if err := checkCredentials(0, p); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_SESSION_TOKEN=%s\nexport AWS_CREDENTIAL_EXPIRATION=%s\n",
		shQuote(p.Credentials.AccessKeyID), shQuote(p.Credentials.SecretAccessKey), shQuote(p.Credentials.SessionToken),
		shQuote(p.Credentials.Expiration.UTC().Format(time.RFC3339)))
	if p.Region != "" {
		fmt.Fprintf(&b, "export AWS_REGION=%s\n", shQuote(p.Region))
	}
	return b.Bytes(), nil
}

// Render produces a one-shot format. ini takes every profile; the others
// describe a single set of credentials and take exactly one.
func Render(format string, profiles []Named) ([]byte, error) {
	if format == FormatINI {
		return CredentialsINI(profiles)
	}
	if len(profiles) != 1 {
		return nil, fmt.Errorf("--format %s prints one profile, got %d", format, len(profiles))
	}
	switch format {
	case FormatJSON:
		return JSON(profiles[0])
	case FormatEnv:
		return Env(profiles[0])
	case FormatProcess:
		return Process(profiles[0])
	}
	return nil, fmt.Errorf("--format %q: must be one of ini, json, env, process", format)
}

// shQuote single-quotes s for POSIX sh: inside '…' nothing is special but
// the quote itself, written as '\” (close, escaped quote, reopen). So no
// value can end a shell word, a command or a line, whatever it holds.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
