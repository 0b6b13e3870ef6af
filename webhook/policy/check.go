package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/sidecar/profile"
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
//   - otherwise one error per role that matches no pattern, naming the
//     role, where it sits in which profile, the namespace and the
//     annotation.
func Check(namespace string, nsAnnotations map[string]string, mode Mode, profiles []profile.Profile) (annotations.NamespacePolicy, field.ErrorList) {
	path := Path(namespace)
	value, ok := nsAnnotations[annotations.AllowedRoleARNs]
	if !ok {
		if mode == ModeRequired {
			return annotations.NamespacePolicy{}, field.ErrorList{field.Required(path, fmt.Sprintf(
				"namespace %q has no %s annotation and this webhook runs with --namespace-policy=required: its pods may assume no role until a cluster admin lists the role ARN patterns the namespace may use",
				namespace, annotations.AllowedRoleARNs))}
		}
		return annotations.NamespacePolicy{Applied: false}, nil
	}
	pol, bad := Parse(value)
	if len(bad) > 0 {
		var errs field.ErrorList
		for _, e := range bad {
			errs = append(errs, field.Invalid(path, e.Entry, fmt.Sprintf(
				"%v; each entry must be %s. Pods of namespace %q that ask for a role are denied until a cluster admin fixes the annotation",
				e.Reason, Form, namespace)))
		}
		return annotations.NamespacePolicy{}, errs
	}
	verdict := annotations.NamespacePolicy{Applied: true, AdmittedBy: map[string]string{}}
	var errs field.ErrorList
	reported := map[string]bool{}
	for _, p := range profiles {
		chain := p.Chain()
		for i, role := range chain {
			if pattern, ok := pol.Match(role); ok {
				verdict.AdmittedBy[role] = pattern.Text
				continue
			}
			if reported[role] {
				continue
			}
			reported[role] = true
			why := fmt.Sprintf("it matches none of the patterns in the namespace's %s annotation: %s", annotations.AllowedRoleARNs, pol)
			if len(pol) == 0 {
				why = fmt.Sprintf("the namespace's %s annotation is empty, which allows no role", annotations.AllowedRoleARNs)
			}
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("role %s (hop %d of %d of profile %q) is not allowed in namespace %q: %s",
				role, i+1, len(chain), p.Name, namespace, why)))
		}
	}
	if len(errs) > 0 {
		return annotations.NamespacePolicy{}, errs
	}
	return verdict, nil
}
