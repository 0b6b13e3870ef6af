package inject

import (
	"encoding/json"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/policy"
)

// Status is written as JSON into the pod's rolechain.dev/status
// annotation: what was injected, and which env variables the user had set
// already and were therefore kept. It is derived from the final pod, so a
// second pass writes the same status.
type Status struct {
	// Mode is ModeNative or ModeFallback.
	Mode string `json:"mode"`
	// Profiles lists the profile names, main profile first.
	Profiles []string `json:"profiles"`
	// Containers received the credentials mount and env (init containers
	// included), in pod order.
	Containers []string `json:"containers"`
	// Kept maps a container to the env variables it already set to a value
	// of its own; rolechain did not overwrite them.
	Kept map[string][]string `json:"kept,omitempty"`
	// MountConflicts lists containers that already mount something else at
	// the credentials path; they got neither mount nor env.
	MountConflicts []string `json:"mountConflicts,omitempty"`
	// EKS says what rolechain did about EKS's pod identity webhook; absent
	// when EKS's webhook has not touched the pod.
	EKS *EKSStatus `json:"eks,omitempty"`
	// NamespacePolicy is how the namespace's
	// rolechain.dev/allowed-role-arns judged the pod: the pattern that
	// admitted each role, or that none applied. Absent when the caller
	// checked none (the webhook server always does).
	NamespacePolicy *policy.Verdict `json:"namespacePolicy,omitempty"`
	// SessionPolicies maps each profile whose target session is narrowed
	// by a session policy to its kinds: SessionPolicyInline,
	// SessionPolicyManaged. Profiles without one are absent.
	SessionPolicies map[string][]string `json:"sessionPolicies,omitempty"`
	// CredentialsMode is the credentials mode the app containers got (file
	// or endpoint) and where it came from (pod, namespace, cluster): cfg's.
	// Absent when the caller resolved none and the pod chose none (the
	// webhook server always resolves it).
	CredentialsMode *annotations.CredentialsModeChoice `json:"credentialsMode,omitempty"`
}

// EKSStatus records what EKS's pod identity webhook had injected that
// rolechain removed, and what it keeps EKS from injecting again. Removals
// leave no trace in the pod, so a later pass (reinvocation) carries the
// earlier pass's record forward: the status says what rolechain removed
// over all its calls for the pod.
type EKSStatus struct {
	// Removed maps a container (rolechain's own included) to what was
	// taken out of it: env variable names and "volumeMount <name>", sorted.
	Removed map[string][]string `json:"removed,omitempty"`
	// RemovedVolumes lists EKS's token volumes removed from the pod once no
	// container mounted them, sorted.
	RemovedVolumes []string `json:"removedVolumes,omitempty"`
	// SkipContainers lists the containers, served by rolechain or its own,
	// that the pod's eks.amazonaws.com/skip-containers annotation names, so
	// that EKS's webhook leaves them alone if it is called again.
	SkipContainers []string `json:"skipContainers,omitempty"`
	// SkipContainersUnreadable is set when the pod's own
	// eks.amazonaws.com/skip-containers could not be read as EKS reads it;
	// rolechain then left it alone and relies on removal alone.
	SkipContainersUnreadable bool `json:"skipContainersUnreadable,omitempty"`
}

// previousEKSStatus reads the EKS record of the status an earlier pass
// wrote; nil when there is none or it cannot be read.
func previousEKSStatus(pod *corev1.Pod) *EKSStatus {
	var prev Status
	if err := json.Unmarshal([]byte(pod.Annotations[annotations.Status]), &prev); err != nil {
		return nil
	}
	return prev.EKS
}

// merge adds an earlier pass's removals to s.
func (s *EKSStatus) merge(prev *EKSStatus) {
	if prev == nil {
		return
	}
	for c, items := range prev.Removed {
		s.Removed[c] = append(s.Removed[c], items...)
	}
	s.RemovedVolumes = append(s.RemovedVolumes, prev.RemovedVolumes...)
}

// normalize sorts and deduplicates, so that the status of a pass does not
// depend on the order in which things were found or merged.
func (s *EKSStatus) normalize() {
	for c := range s.Removed {
		slices.Sort(s.Removed[c])
		s.Removed[c] = slices.Compact(s.Removed[c])
	}
	slices.Sort(s.RemovedVolumes)
	s.RemovedVolumes = slices.Compact(s.RemovedVolumes)
}

func (s EKSStatus) empty() bool {
	return len(s.Removed) == 0 && len(s.RemovedVolumes) == 0 && len(s.SkipContainers) == 0 && !s.SkipContainersUnreadable
}
