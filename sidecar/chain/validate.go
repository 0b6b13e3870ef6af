package chain

import (
	"fmt"
	"time"
)

// Bounds on what a credential field may hold before it is written into an
// INI file or printed for eval. Every value here ends up in configuration
// that SDKs parse (a line break in a token becomes a new INI section, a ';'
// ends a shell word), so a field outside these sets is refused, not quoted.
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

// InvalidCredentialsError says which field of an answer broke which rule.
// It never holds the value: it may be a real secret, or attacker text.
type InvalidCredentialsError struct {
	Field string // AccessKeyId, SecretAccessKey, SessionToken, Expiration
	Rule  string // what the field must be
}

func (e *InvalidCredentialsError) Error() string {
	return fmt.Sprintf("refused credentials: %s %s", e.Field, e.Rule)
}

// ValidateCredentials checks every field of an STS answer before anything
// is written or printed: all four are required. (The Pod Identity agent's
// answer is checked by validate with an empty token and no expiration
// allowed, as the SDK's container-credentials client hands them over.)
func ValidateCredentials(accessKeyID, secret, token string, exp time.Time) error {
	return validate(accessKeyID, secret, token, exp, false, true)
}

func validate(accessKeyID, secret, token string, exp time.Time, allowEmptyToken, needExpiration bool) error {
	if n := len(accessKeyID); n < MinAccessKeyIDLen || n > MaxAccessKeyIDLen {
		return &InvalidCredentialsError{"AccessKeyId", fmt.Sprintf("has %d characters, not %d to %d", n, MinAccessKeyIDLen, MaxAccessKeyIDLen)}
	}
	if !allIn(accessKeyID, isWord) {
		return &InvalidCredentialsError{"AccessKeyId", `has a character outside [A-Za-z0-9_]`}
	}
	if n := len(secret); n == 0 || n > MaxSecretAccessKeyLen {
		return &InvalidCredentialsError{"SecretAccessKey", fmt.Sprintf("has %d characters, not 1 to %d", n, MaxSecretAccessKeyLen)}
	}
	if !allIn(secret, isBase64) {
		return &InvalidCredentialsError{"SecretAccessKey", `has a character outside [A-Za-z0-9+/=]`}
	}
	if n := len(token); (n == 0 && !allowEmptyToken) || n > MaxSessionTokenLen {
		return &InvalidCredentialsError{"SessionToken", fmt.Sprintf("has %d characters, not 1 to %d", n, MaxSessionTokenLen)}
	}
	if !allIn(token, isTokenChar) {
		return &InvalidCredentialsError{"SessionToken", `has a character outside [A-Za-z0-9+/=._-]`}
	}
	if needExpiration && exp.IsZero() {
		return &InvalidCredentialsError{"Expiration", "is missing or zero"}
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
