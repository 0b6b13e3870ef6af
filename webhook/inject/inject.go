// Package inject adds the rolechain sidecar, its volumes and the AWS
// environment to a pod. Mutate is a pure function of the pod and a parsed
// annotations.Config: no clock, no randomness, no API calls. It is
// idempotent: every helper checks by name before it adds, so a second pass
// (the API server's reinvocationPolicy: IfNeeded) changes only what a later
// webhook added, such as a new container that still lacks the env and mount.
package inject

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/eks"
	"github.com/rolechain/rolechain/webhook/policy"
)

// Names and paths the injection uses inside the pod.
const (
	// SidecarName is the long-running sidecar (a native sidecar init
	// container, or a regular container in fallback mode).
	SidecarName = "rolechain-sidecar"
	// InitName is the one-shot init container of fallback mode.
	InitName = "rolechain-init"
	// CredentialsVolume is the memory-backed emptyDir the sidecar writes.
	CredentialsVolume = "rolechain-credentials"
	// TokenVolume is the projected ServiceAccount token, sidecar only.
	TokenVolume = "rolechain-token"
	// SidecarCommand is the sidecar binary's path in its image.
	SidecarCommand = contract.SidecarCommand
	// InitArg makes the fallback init container exit once every profile's
	// credentials are written to the credentials volume.
	InitArg = contract.ExitWhenReadyFlag
	// SidecarUID is the sidecar's default user and group (the distroless
	// "nonroot" user): not root, as Pod Security "restricted" requires.
	SidecarUID = 65532
	// StartupFailureThreshold × 1 s is how long a slow STS may take before
	// the kubelet restarts the sidecar: two minutes.
	StartupFailureThreshold = 120
)

// CredentialsVolumeSizeLimit caps the tmpfs: the files are a few KiB, and
// a memory-backed emptyDir counts against the pod's memory.
var CredentialsVolumeSizeLimit = resource.MustParse("1Mi")

// App environment variable names.
const (
	EnvSharedCredentialsFile = "AWS_SHARED_CREDENTIALS_FILE"
	EnvConfigFile            = "AWS_CONFIG_FILE"
	EnvProfile               = "AWS_PROFILE"
	EnvRegion                = "AWS_REGION"
	EnvDefaultRegion         = "AWS_DEFAULT_REGION"
	EnvContainerFullURI      = contract.EnvContainerCredentialsFullURI
	EnvContainerTokenFile    = contract.EnvContainerAuthorizationTokenFile
)

// Modes recorded in Status.
const (
	ModeNative   = "native"
	ModeFallback = "fallback"
)

// Injector holds the operator's settings that shape the sidecar.
type Injector struct {
	// Image and PullPolicy of the sidecar container.
	Image      string
	PullPolicy corev1.PullPolicy
	// NativeSidecars injects the sidecar as an init container with
	// restartPolicy: Always (Kubernetes ≥ 1.29). When false, a one-shot
	// init container (the sidecar with --exit-when-ready) writes the first
	// credentials and a regular container keeps them fresh.
	NativeSidecars bool
	// UID and GID are the sidecar's runAsUser and runAsGroup (--sidecar-uid,
	// --sidecar-gid); 0 means SidecarUID: the sidecar never runs as root.
	UID, GID int64
}

// Mutate returns a copy of pod with the sidecar injected as cfg describes,
// and the status it wrote into the pod's annotations, which records
// verdict: how the namespace's role policy admitted the pod (nil when the
// caller checked none; the webhook server always does). A pod that already
// carries the sidecar keeps it as it is; only containers still missing the
// mount or env receive them. What EKS's pod identity webhook injected into
// the containers rolechain serves and into its sidecar is removed (see
// package eks and README "On EKS"), whichever webhook ran first. The input
// pod is not modified, and the returned pod shares with it every part
// that Mutate leaves as it was (see copyForMutation), and with cfg the
// sidecar's resource lists: treat all three as read-only.
//
// The steps, each in its own function: (0) the check of what the pod
// already has of rolechain's, (1) volumes, (2) the sidecar,
// (3) the served containers' mount and env, (4) EKS's leftovers, (5) the
// status annotation.
func (in Injector) Mutate(pod *corev1.Pod, cfg annotations.Config, verdict *policy.Verdict) (*corev1.Pod, Status, error) {
	out := copyForMutation(pod)
	spec := &out.Spec
	// What the pod shows before this pass: whether EKS's webhook has been
	// at it, and whether rolechain has (a reinvocation).
	eksTouched := eks.Touched(spec)
	reinvoked := hasSidecar(spec)

	// (0) What the pod already carries of rolechain's must be what cfg
	// renders: a sidecar written by hand must not assume other roles than
	// the annotations, which the namespace's policy judged, say.
	if err := in.checkWritten(spec, cfg); err != nil {
		return nil, Status{}, err
	}

	// (1) Volumes, by name.
	for _, v := range volumes(cfg) {
		ensureVolume(spec, v)
	}

	// (2) The sidecar, unless the pod carries it already (an earlier pass,
	// or a pod written by hand).
	if !reinvoked {
		if err := in.addSidecar(spec, cfg); err != nil {
			return nil, Status{}, err
		}
	}
	podIdentity := cfg.Source == annotations.SourcePodIdentity
	if podIdentity {
		// rolechain's containers need the container-credentials env and
		// token that EKS's webhook gives; if EKS ran first it gave them to
		// the app containers only.
		adoptPodIdentity(spec)
	}

	// (3) Mount and env into every selected container.
	status := Status{Mode: modeOf(spec), NamespacePolicy: verdict, SessionPolicies: sessionPolicies(cfg), CredentialsMode: cfg.CredentialsMode}
	for _, p := range cfg.Profiles {
		status.Profiles = append(status.Profiles, p.Name)
	}
	ours, removed := in.serveContainers(spec, cfg, &status)

	// (4) What EKS's webhook injected that no container needs any more,
	// and what keeps it from injecting again. Removals leave no trace in
	// the pod, so a reinvocation carries the earlier pass's record forward.
	eksStatus := cleanUpEKS(out, status.Containers, ours, podIdentity, eksTouched)
	eksStatus.Removed = removed
	if reinvoked {
		eksStatus.merge(previousEKSStatus(pod))
	}
	eksStatus.normalize()
	if !eksStatus.empty() {
		status.EKS = &eksStatus
	}

	// (5) The status annotation.
	b, err := json.Marshal(status)
	if err != nil {
		return nil, Status{}, fmt.Errorf("encoding %s: %w", annotations.Status, err)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[annotations.Status] = string(b)
	return out, status, nil
}

func ensureVolume(spec *corev1.PodSpec, v corev1.Volume) {
	for _, have := range spec.Volumes {
		if have.Name == v.Name {
			return
		}
	}
	spec.Volumes = append(spec.Volumes, v)
}
