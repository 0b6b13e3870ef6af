package contract

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// SessionTagKeys are the keys of the three session tags the sidecar sends
// on every sts:AssumeRole hop of a profile with SessionTags; the values are
// the pod's namespace, name and ServiceAccount.
//
// The sidecar sets these tags itself, so they say only what the holder of
// the previous hop chose to send: anyone with that hop's credentials can
// call sts:AssumeRole with any values. They authorise nothing, and their
// keys must not be mistaken for tags AWS sets: EKS Pod Identity tags its
// sessions with kubernetes-namespace and kubernetes-service-account (see
// EKSPodIdentityTagKeys), which admins trust in aws:PrincipalTag
// conditions. Hence distinct defaults, and a setting for clusters whose
// policies were written for other keys.
type SessionTagKeys struct {
	Namespace, Pod, ServiceAccount string
}

// DefaultSessionTagKeys name rolechain as the setter: a policy condition
// on aws:PrincipalTag/rolechain-namespace reads as what it is, a value the
// caller sent, and none of them collides with a tag EKS Pod Identity passes
// down transitively (STS refuses a hop that sets an inherited transitive
// key again).
var DefaultSessionTagKeys = SessionTagKeys{
	Namespace:      "rolechain-namespace",
	Pod:            "rolechain-pod",
	ServiceAccount: "rolechain-service-account",
}

// EKSPodIdentityTagKeys are the session tags EKS Pod Identity sets, as
// transitive tags, on the credentials it issues.
var EKSPodIdentityTagKeys = []string{
	"eks-cluster-arn", "eks-cluster-name", "kubernetes-namespace", "kubernetes-service-account", "kubernetes-pod-name", "kubernetes-pod-uid",
}

// EnvSessionTagKeys carries the keys to the sidecar (--session-tag-keys),
// in the form SessionTagKeys.String writes and ParseSessionTagKeys reads.
const EnvSessionTagKeys = "ROLECHAIN_SESSION_TAG_KEYS"

// Accepted forms of session tag keys, quoted in error messages.
const (
	SessionTagKeyForm  = "must be 1-128 characters of letters, digits, spaces and _.:/=+-@ (IAM's tag keys)"
	SessionTagKeysForm = "must be three keys, comma-separated: the namespace's, the pod's and the ServiceAccount's, such as rolechain-namespace,rolechain-pod,rolechain-service-account"
)

// tagKeyRE is IAM's character set of a tag key; the length is counted apart.
var tagKeyRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)

// SessionTagKeyProblem says what is wrong with a session tag key, or ""
// when STS accepts it: 1-128 characters (IAM counts characters, not bytes)
// of IAM's set, not starting with aws:, the prefix AWS reserves (in any
// case: IAM compares tag keys case-insensitively).
func SessionTagKeyProblem(k string) string {
	switch {
	case utf8.RuneCountInString(k) > 128 || !tagKeyRE.MatchString(k):
		return SessionTagKeyForm
	case strings.HasPrefix(FoldTagKey(k), "aws:"):
		return "must not start with aws: (in any case), the prefix AWS reserves for its own tags"
	}
	return ""
}

// FoldTagKey is the form in which IAM compares tag keys, which it does
// case-insensitively: upper case, then lower case, character by character,
// as Java's equalsIgnoreCase does (so that ſ is s, and ı and İ are i).
// It is strings.EqualFold but for those last two, and it is what the chart
// can compute (sprig's upper and lower).
func FoldTagKey(k string) string { return strings.ToLower(strings.ToUpper(k)) }

// Keys lists the keys in the order of String: namespace, pod, ServiceAccount.
func (k SessionTagKeys) Keys() []string { return []string{k.Namespace, k.Pod, k.ServiceAccount} }

// String is the comma-separated form (a comma is not in a key's character
// set, so the form is unambiguous).
func (k SessionTagKeys) String() string { return strings.Join(k.Keys(), ",") }

// Validate checks each key and that no two are the same to IAM, which
// compares tag keys case-insensitively (STS refuses a request that sets a
// key twice). Errors are located at path.Index(i), i in the order of Keys.
func (k SessionTagKeys) Validate(path *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := k.Keys()
	for i, key := range keys {
		if problem := SessionTagKeyProblem(key); problem != "" {
			errs = append(errs, field.Invalid(path.Index(i), key, problem))
			continue
		}
		for j := range i {
			if FoldTagKey(key) == FoldTagKey(keys[j]) {
				e := field.Duplicate(path.Index(i), key)
				e.Detail = fmt.Sprintf("is key [%d] to IAM, which compares tag keys case-insensitively; the three keys must differ", j)
				errs = append(errs, e)
				break
			}
		}
	}
	return errs
}

// ParseSessionTagKeys reads the form of String and validates the keys.
// The one rule for session tag keys: the webhook's flag, the sidecar's and
// the chart's test all apply it.
func ParseSessionTagKeys(s string, path *field.Path) (SessionTagKeys, field.ErrorList) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return SessionTagKeys{}, field.ErrorList{field.Invalid(path, s, SessionTagKeysForm)}
	}
	k := SessionTagKeys{Namespace: parts[0], Pod: parts[1], ServiceAccount: parts[2]}
	if errs := k.Validate(path); len(errs) > 0 {
		return SessionTagKeys{}, errs
	}
	return k, nil
}
