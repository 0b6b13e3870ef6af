package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits STS sets on session policies (the Policy and PolicyArns
// parameters of AssumeRole and AssumeRoleWithWebIdentity). Both the
// webhook and the sidecar check them, so a pod is denied, or the sidecar
// refuses to start, instead of every refresh failing.
//
// STS has a second limit it does not publish: it packs the inline policy,
// the policy ARNs and the session tags into a binary form with a size
// limit of its own, and answers PackedPolicyTooLarge when that is
// exceeded, whatever the plaintext length (the PackedPolicySize response
// element says how close a call came, in percent). Nobody outside AWS can
// compute the packed size, so it is left to STS; the sidecar reports the
// refusal with the hop and the code.
const (
	// MaxSessionPolicyChars is STS's bound on the Policy parameter: 2,048
	// characters of plaintext, whitespace included.
	MaxSessionPolicyChars = 2048
	// MaxSessionPolicyARNs is STS's bound on PolicyArns.
	MaxSessionPolicyARNs = 10
)

// SessionPolicyForm describes an accepted inline session policy, for error
// messages.
const SessionPolicyForm = `an IAM policy as a JSON object {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"|"Deny", "Action"|"NotAction": …, "Resource"|"NotResource": …}]}`

// PolicyARNForm describes an accepted managed policy ARN.
const PolicyARNForm = "a managed policy ARN arn:<partition>:iam::<12-digit account or aws>:policy/[<path>/]<name>"

// policyARN is an IAM managed policy ARN: customer managed (12-digit
// account) or AWS managed (account "aws"); an STS-compatible peer may leave
// the account empty, as its role ARNs do. Name: 1-128 of [\w+=,.@-].
var policyARN = regexp.MustCompile(`^arn:([a-z][a-z0-9-]{0,62}):iam::([0-9]{12}|aws)?:policy/(?:[\x21-\x7e]{0,510}/)?[\w+=,.@-]{1,128}$`)

// PolicyARNPartition returns the partition of a managed policy ARN, and
// false when arn is not one.
func PolicyARNPartition(arn string) (string, bool) {
	m := policyARN.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ValidateSessionPolicy checks an inline session policy as STS would, up
// to what can be known without AWS: the character set and length of the
// plaintext, well-formed JSON, and the policy grammar's shape (a
// session policy is an identity policy: no Principal). It does not check
// action names or resource ARNs. The error is a sentence that says what is
// wrong ("statement 2 needs …").
func ValidateSessionPolicy(doc string) error {
	if doc == "" {
		return fmt.Errorf("the policy is empty")
	}
	if !utf8.ValidString(doc) {
		return fmt.Errorf("the policy is not valid UTF-8")
	}
	n := 0
	for i, r := range doc {
		// STS: "any ASCII character from the space character to the end
		// of the valid character list (\u0020 through \u00FF)", plus tab,
		// line feed and carriage return.
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xff) {
			return fmt.Errorf("the policy has %q at byte %d: STS accepts only tab, line feed, carriage return and \\u0020-\\u00FF", r, i)
		}
		n++
	}
	if n > MaxSessionPolicyChars {
		return fmt.Errorf("the policy is %d characters long: STS accepts at most %d (whitespace counts: minify the JSON)", n, MaxSessionPolicyChars)
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return fmt.Errorf("the policy is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("the policy has more after the JSON object")
	}
	for _, k := range sortedKeys(top) {
		if !slices.Contains([]string{"Version", "Id", "Statement"}, k) {
			return fmt.Errorf("the policy has element %q: a policy has Version, Id and Statement", k)
		}
	}
	if v, ok := top["Version"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || (version != "2012-10-17" && version != "2008-10-17") {
			return fmt.Errorf("the policy has Version %s: it must be \"2012-10-17\" (or the old \"2008-10-17\")", v)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return fmt.Errorf("the policy has no Statement")
	}
	var statements []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("the policy has a Statement that is not an object: %v", err)
		}
		statements = append(statements, one)
	} else if err := json.Unmarshal(raw, &statements); err != nil || len(statements) == 0 {
		return fmt.Errorf("the policy has a Statement that is neither an object nor a non-empty list of objects")
	}
	for i, st := range statements {
		if err := validateStatement(st); err != nil {
			return fmt.Errorf("statement %d %v", i+1, err)
		}
	}
	return nil
}

func validateStatement(st map[string]json.RawMessage) error {
	for _, k := range sortedKeys(st) {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return fmt.Errorf("has %s: a session policy applies to the session itself and names no principal", k)
		default:
			return fmt.Errorf("has element %q: a statement has Sid, Effect, Action or NotAction, Resource or NotResource, Condition", k)
		}
	}
	var effect string
	if json.Unmarshal(st["Effect"], &effect) != nil || (effect != "Allow" && effect != "Deny") {
		return fmt.Errorf("needs Effect \"Allow\" or \"Deny\"")
	}
	for _, pair := range [][2]string{{"Action", "NotAction"}, {"Resource", "NotResource"}} {
		a, hasA := st[pair[0]]
		b, hasB := st[pair[1]]
		if hasA == hasB {
			return fmt.Errorf("needs exactly one of %s and %s", pair[0], pair[1])
		}
		name, v := pair[0], a
		if hasB {
			name, v = pair[1], b
		}
		if !stringOrStrings(v) {
			return fmt.Errorf("needs %s to be a string or a non-empty list of strings", name)
		}
	}
	if c, ok := st["Condition"]; ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(c, &m) != nil {
			return fmt.Errorf("needs Condition to be an object")
		}
	}
	return nil
}

func stringOrStrings(v json.RawMessage) bool {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s != ""
	}
	var list []string
	return json.Unmarshal(v, &list) == nil && len(list) > 0 && !slices.Contains(list, "")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Abbreviate keeps an error message readable when the bad value is a long
// policy document: its start, and how long it was.
func Abbreviate(v string) string {
	const keep = 60
	if utf8.RuneCountInString(v) <= keep+20 {
		return v
	}
	return fmt.Sprintf("%s… (%d characters)", string([]rune(v)[:keep]), utf8.RuneCountInString(v))
}
