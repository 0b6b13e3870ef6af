package chain

import (
	"time"

	"github.com/rolechain/rolechain/sidecar/credcheck"
)

// InvalidCredentialsError says which field of an answer (or of the keys a
// chain starts from) broke which rule of sidecar/credcheck, the one place
// those rules live. It never holds the value.
type InvalidCredentialsError = credcheck.Error

// ValidateCredentials checks every field of an STS answer before anything
// is written or printed: all four are required. (The Pod Identity agent's
// answer, static keys and the default chain's keys are checked with the
// same rules, their session token and expiration optional.)
func ValidateCredentials(accessKeyID, secret, token string, exp time.Time) error {
	return credcheck.Check(accessKeyID, secret, token, exp, credcheck.Temporary)
}
