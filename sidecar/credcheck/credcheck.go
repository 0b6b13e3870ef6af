// Package credcheck holds the one set of rules an AWS credential must pass
// before the sidecar signs with it, writes it into a file or prints it:
// the character sets and lengths of what STS (and radosgw, MinIO) issue,
// and an expiration every output format can state. sidecar/chain checks
// STS and Pod Identity answers, static keys and the SDK default chain's
// keys with it; sidecar/output checks again before it renders anything, so
// a caller that forgot cannot write a value that ends a line, an INI
// section, a JSON string or a shell word.
package credcheck

import (
	"fmt"
	"time"
)

// Bounds on what a credential field may hold. Every value ends up in
// configuration that SDKs parse (a line break in a token becomes a new INI
// section, a ';' ends a shell word), so a field outside these sets is
// refused, not quoted.
const (
	// STS API reference: AccessKeyId is 16–128 characters of [\w]. radosgw
	// and MinIO issue 20 upper-case alphanumerics, inside this.
	MinAccessKeyIDLen = 16
	MaxAccessKeyIDLen = 128
	// AWS secrets are 40 characters of base64 ([A-Za-z0-9+/]); radosgw and
	// MinIO issue 40 of the same alphabet. 128 leaves room without letting
	// a peer send a document.
	MaxSecretAccessKeyLen = 128
	// AWS session tokens are base64 ([A-Za-z0-9+/=]) and run to a few KiB
	// with session tags and policies; radosgw's are base64 too; MinIO's are
	// JWTs ([A-Za-z0-9_-] segments joined by '.'). 16 KiB is well above any
	// of them.
	MaxSessionTokenLen = 16 << 10
)

// Error says which field broke which rule. It never holds the value: it
// may be a real secret, or attacker text.
type Error struct {
	Field string // AccessKeyId, SecretAccessKey, SessionToken, Expiration
	Rule  string // what the field must be
}

func (e *Error) Error() string {
	return fmt.Sprintf("refused credentials: %s %s", e.Field, e.Rule)
}

// Need says which optional fields a source must supply. Temporary
// credentials from STS have both; long-term keys (a static Secret, an IAM
// user's keys in the default chain) have neither, and the Pod Identity
// agent's may lack the expiration as the SDK hands them over.
type Need struct {
	SessionToken bool
	Expiration   bool
}

// Temporary is what STS issues and what the sidecar writes: all four fields.
var Temporary = Need{SessionToken: true, Expiration: true}

// Check returns an *Error for the first field that breaks its rule, nil
// when every field passes. An empty optional field passes.
func Check(accessKeyID, secret, token string, exp time.Time, need Need) error {
	if n := len(accessKeyID); n < MinAccessKeyIDLen || n > MaxAccessKeyIDLen {
		return &Error{"AccessKeyId", fmt.Sprintf("has %d characters, not %d to %d", n, MinAccessKeyIDLen, MaxAccessKeyIDLen)}
	}
	if !allIn(accessKeyID, isWord) {
		return &Error{"AccessKeyId", `has a character outside [A-Za-z0-9_]`}
	}
	if n := len(secret); n == 0 || n > MaxSecretAccessKeyLen {
		return &Error{"SecretAccessKey", fmt.Sprintf("has %d characters, not 1 to %d", n, MaxSecretAccessKeyLen)}
	}
	if !allIn(secret, isBase64) {
		return &Error{"SecretAccessKey", `has a character outside [A-Za-z0-9+/=]`}
	}
	if n := len(token); (n == 0 && need.SessionToken) || n > MaxSessionTokenLen {
		return &Error{"SessionToken", fmt.Sprintf("has %d characters, not 1 to %d", n, MaxSessionTokenLen)}
	}
	if !allIn(token, isTokenChar) {
		return &Error{"SessionToken", `has a character outside [A-Za-z0-9+/=._-]`}
	}
	if exp.IsZero() {
		if need.Expiration {
			return &Error{"Expiration", "is missing or zero"}
		}
		return nil
	}
	// RFC 3339 (credential_process, --format env) has four-digit years, and
	// encoding/json refuses to marshal any other time.
	if y := exp.UTC().Year(); y < 1970 || y > 9999 {
		return &Error{"Expiration", fmt.Sprintf("is in year %d, not 1970 to 9999", y)}
	}
	return nil
}

func allIn(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isWord(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_'
}

func isBase64(b byte) bool { return isWord(b) && b != '_' || b == '+' || b == '/' || b == '=' }

// isTokenChar admits base64 (AWS, radosgw) and base64url JWTs (MinIO).
func isTokenChar(b byte) bool { return isBase64(b) || b == '_' || b == '-' || b == '.' }
