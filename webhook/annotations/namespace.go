package annotations

// NamespacePolicy is how the pod's namespace's AllowedRoleARNs annotation
// judged an admitted pod. The webhook server fills it in after it read the
// namespace (Parse never does), and the injection records it in Status.
type NamespacePolicy struct {
	// Applied is false when the namespace has no AllowedRoleARNs
	// annotation (allowed with --namespace-policy=optional): nothing
	// restricted the pod's roles.
	Applied bool `json:"applied"`
	// AdmittedBy maps every role the pod's chains assume to the first
	// pattern that matched it; empty when the policy was not applied.
	AdmittedBy map[string]string `json:"admittedBy,omitempty"`
}
