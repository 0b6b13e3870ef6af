package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
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

// CredentialsINI renders the shared credentials file (AWS_SHARED_CREDENTIALS_FILE)
// with one section per profile.
func CredentialsINI(profiles []Named) []byte {
	var b bytes.Buffer
	for i, p := range profiles {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n",
			p.Profile, p.Credentials.AccessKeyID, p.Credentials.SecretAccessKey, p.Credentials.SessionToken)
	}
	return b.Bytes()
}

// ConfigINI renders the config file (AWS_CONFIG_FILE): "[default]" for the
// default profile and "[profile NAME]" for others, as the SDKs expect.
func ConfigINI(profiles []Named) []byte {
	var b bytes.Buffer
	for i, p := range profiles {
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
	return b.Bytes()
}

// CredentialsJSON is the per-profile JSON file: snake_case keys and the
// expiration in Unix seconds, easy to read from a shell or any language.
type CredentialsJSON struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token"`
	Expiration      int64  `json:"expiration"`
}

// JSON renders CredentialsJSON.
func JSON(c chain.Credentials) []byte {
	b, _ := json.MarshalIndent(CredentialsJSON{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.Unix()}, "", "  ")
	return append(b, '\n')
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

// Process renders ProcessJSON.
func Process(c chain.Credentials) []byte {
	b, _ := json.MarshalIndent(ProcessJSON{1, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)}, "", "  ")
	return append(b, '\n')
}

// Env renders shell lines for eval: the SDKs' environment variables, and
// AWS_REGION when the profile has one.
func Env(p Named) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_SESSION_TOKEN=%s\nexport AWS_CREDENTIAL_EXPIRATION=%s\n",
		shQuote(p.Credentials.AccessKeyID), shQuote(p.Credentials.SecretAccessKey), shQuote(p.Credentials.SessionToken),
		shQuote(p.Credentials.Expiration.UTC().Format(time.RFC3339)))
	if p.Region != "" {
		fmt.Fprintf(&b, "export AWS_REGION=%s\n", shQuote(p.Region))
	}
	return b.Bytes()
}

// Render produces a one-shot format. ini takes every profile; the others
// describe a single set of credentials and take exactly one.
func Render(format string, profiles []Named) ([]byte, error) {
	if format == FormatINI {
		return CredentialsINI(profiles), nil
	}
	if len(profiles) != 1 {
		return nil, fmt.Errorf("--format %s prints one profile, got %d", format, len(profiles))
	}
	switch format {
	case FormatJSON:
		return JSON(profiles[0].Credentials), nil
	case FormatEnv:
		return Env(profiles[0]), nil
	case FormatProcess:
		return Process(profiles[0].Credentials), nil
	}
	return nil, fmt.Errorf("--format %q: must be one of ini, json, env, process", format)
}

// shQuote single-quotes s for POSIX sh: inside '…' nothing is special but
// the quote itself, written as '\” (close, escaped quote, reopen). So no
// value can end a shell word, a command or a line, whatever it holds.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
