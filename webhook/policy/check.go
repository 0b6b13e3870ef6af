package policy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
)

// Mode says what a namespace without the AllowedRoleARNs annotation means
// (the webhook's --namespace-policy).
type Mode string

const (
	// ModeOptional leaves a namespace without the annotation unrestricted.
	ModeOptional Mode = "optional"
	// ModeRequired denies every pod that asks for a role in a namespace
	// without the annotation.
	ModeRequired Mode = "required"
)

// Modes lists the accepted modes, for flag validation.
var Modes = []Mode{ModeOptional, ModeRequired}

// Path is where errors about a namespace's policy are rooted: the
// annotation on the namespace, so a denied user reads which object and
// which key to ask a cluster admin about.
func Path(namespace string) *field.Path {
	return field.NewPath("namespaces").Key(namespace).Child("metadata", "annotations").Key(annotations.AllowedRoleARNs)
}

// Verdict is how a namespace's AllowedRoleARNs annotation judged an
// admitted pod. The injection records it in the pod's status.
type Verdict struct {
	// Applied is false when the namespace has no AllowedRoleARNs
	// annotation (allowed with ModeOptional): nothing restricted the pod's
	// roles.
	Applied bool `json:"applied"`
	// AdmittedBy maps every role the pod's chains assume to the first
	// pattern that matched it; empty when the policy was not applied.
	AdmittedBy map[string]string `json:"admittedBy,omitempty"`
}

// Check judges every role the profiles' chains would assume — first hop,
// via roles and target, in every profile — against the AllowedRoleARNs
// annotation among nsAnnotations (the annotations of namespace). It
// returns how the pod was admitted, or the errors that deny it:
//
//   - no annotation: admitted unrestricted with ModeOptional, denied with
//     ModeRequired;
//   - a malformed entry: denied, naming each bad entry (failing open would
//     drop the admin's restriction; ignoring just the bad entry could deny
//     pods the admin meant to allow for a reason the pod's author cannot
//     see);
//   - a role that matches no pattern: denied, naming each such role once,
//     its hop and profile, the namespace and the annotation.
//
// Every denial is a single error, so that the patterns are quoted once.
func Check(namespace string, nsAnnotations map[string]string, mode Mode, profiles []contract.Profile) (Verdict, field.ErrorList) {
	path := Path(namespace)
	value, ok := nsAnnotations[annotations.AllowedRoleARNs]
	if !ok {
		if mode == ModeRequired {
			return Verdict{}, field.ErrorList{field.Required(path, fmt.Sprintf(
				"namespace %q has no %s annotation and this webhook runs with --namespace-policy=required: its pods may assume no role until a cluster admin lists the role ARN patterns the namespace may use",
				namespace, annotations.AllowedRoleARNs))}
		}
		return Verdict{Applied: false}, nil
	}
	pol, bad := Parse(value)
	if len(bad) > 0 {
		entries := make([]string, len(bad))
		reasons := make([]string, len(bad))
		for i, e := range bad {
			entries[i], reasons[i] = e.Entry, e.Error()
		}
		detail := strings.Join(reasons, "; ")
		if len(bad) == 1 {
			detail = bad[0].Reason.Error()
		}
		return Verdict{}, field.ErrorList{field.Invalid(path, strings.Join(entries, ", "), fmt.Sprintf(
			"%s; each entry must be %s. Pods of namespace %q that ask for a role are denied until a cluster admin fixes the annotation",
			detail, Form, namespace))}
	}
	verdict := Verdict{Applied: true, AdmittedBy: map[string]string{}}
	var denied []string
	seen := map[string]bool{}
	for _, p := range profiles {
		chain := p.Chain()
		for i, role := range chain {
			if pattern, ok := pol.Match(role); ok {
				verdict.AdmittedBy[role] = pattern.Text
				continue
			}
			if !seen[role] {
				seen[role] = true
				denied = append(denied, fmt.Sprintf("%s (hop %d of %d of profile %q)", role, i+1, len(chain), p.Name))
			}
		}
	}
	if len(denied) == 0 {
		return verdict, nil
	}
	subject, verb, pronoun := "role "+denied[0], "is", "it matches"
	if len(denied) > 1 {
		subject, verb, pronoun = "roles "+strings.Join(denied, ", "), "are", "they match"
	}
	why := fmt.Sprintf("%s none of the patterns in the namespace's %s annotation: %s", pronoun, annotations.AllowedRoleARNs, pol)
	if len(pol) == 0 {
		why = fmt.Sprintf("the namespace's %s annotation is empty, which allows no role", annotations.AllowedRoleARNs)
	}
	return Verdict{}, field.ErrorList{field.Forbidden(path, fmt.Sprintf("%s %s not allowed in namespace %q: %s", subject, verb, namespace, why))}
}
