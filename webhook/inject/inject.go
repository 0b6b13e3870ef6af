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
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

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
	// SidecarUID runs the sidecar as a non-root user (the distroless
	// "nonroot" user), as Pod Security "restricted" requires.
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
}

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
func (in Injector) Mutate(pod *corev1.Pod, cfg annotations.Config, verdict *policy.Verdict) (*corev1.Pod, Status, error) {
	out := copyForMutation(pod)
	spec := &out.Spec
	podIdentity := cfg.Source == annotations.SourcePodIdentity
	// What the pod shows before this pass: whether EKS's webhook has been
	// at it, and whether rolechain has (a reinvocation).
	eksTouched := eks.Touched(spec)
	reinvoked := hasSidecar(spec)

	// (1) Volumes, by name: the credentials tmpfs and, for web identity,
	// the projected token.
	ensureVolume(spec, corev1.Volume{
		Name: CredentialsVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium:    corev1.StorageMediumMemory,
			SizeLimit: ptr.To(CredentialsVolumeSizeLimit.DeepCopy()),
		}},
	})
	if !podIdentity {
		ensureVolume(spec, corev1.Volume{
			Name: TokenVolume,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience:          cfg.Audience,
					ExpirationSeconds: ptr.To(cfg.TokenExpirationSeconds),
					Path:              "token",
				}}},
			}},
		})
	}

	// (2) The sidecar, unless the pod carries it already (an earlier pass,
	// or a pod written by hand). It goes first among the init containers so
	// that every later init container and every app container starts with
	// credentials present.
	if !hasSidecar(spec) {
		sidecar, err := in.sidecar(cfg)
		if err != nil {
			return nil, Status{}, err
		}
		if in.NativeSidecars {
			sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			spec.InitContainers = slices.Insert(spec.InitContainers, 0, sidecar)
		} else {
			// Fallback: a one-shot init container writes the first
			// credentials, then the regular sidecar keeps them fresh. It is
			// appended so that the app stays the pod's first (default)
			// container for kubectl logs/exec. The init container runs the
			// daemon path until every profile's files are in the volume
			// (--once would only print them), retrying as the sidecar does,
			// and fails rather than exit 0 without them.
			initc := *sidecar.DeepCopy()
			initc.Name = InitName
			initc.Args = []string{InitArg}
			initc.StartupProbe, initc.ReadinessProbe = nil, nil
			spec.InitContainers = slices.Insert(spec.InitContainers, 0, initc)
			spec.Containers = append(spec.Containers, sidecar)
		}
	}

	// (2b) With Pod Identity as the source, rolechain's containers need
	// the container-credentials env and token that EKS's webhook gives. If
	// EKS ran first it gave them to the app containers only (rolechain's
	// did not exist yet, and EKS may never be called again): move them.
	removed := map[string][]string{}
	if podIdentity {
		adoptPodIdentity(spec)
	}

	// (3) Mount and env into every selected container, after taking out
	// what EKS's webhook injected there: its web-identity variables win
	// over the credentials file in Go v2's and botocore's default chains,
	// and over the endpoint in every SDK's, and its container-credentials
	// variables have the very names of rolechain's endpoint mode. What a
	// container sets on its own (any other value) stays.
	appEnv := in.appEnv(cfg)
	status := Status{Mode: modeOf(spec)}
	for _, p := range cfg.Profiles {
		status.Profiles = append(status.Profiles, p.Name)
	}
	status.NamespacePolicy, status.SessionPolicies = verdict, sessionPolicies(cfg)
	var ours []string // rolechain's own containers
	for _, list := range []*[]corev1.Container{&spec.InitContainers, &spec.Containers} {
		for i := range *list {
			c := &(*list)[i]
			if c.Name == SidecarName || c.Name == InitName {
				// The sidecar never needs EKS's web-identity token; it
				// keeps the Pod Identity env only when that is its source.
				kinds := eks.IRSA | eks.PodIdentity
				if podIdentity {
					kinds = eks.IRSA
				}
				if r := eks.Strip(c, kinds); r != nil {
					removed[c.Name] = r
				}
				ours = append(ours, c.Name)
				continue
			}
			if slices.Contains(cfg.SkipContainers, c.Name) {
				continue
			}
			if !ensureMount(c) {
				status.MountConflicts = append(status.MountConflicts, c.Name)
				continue
			}
			if r := eks.Strip(c, eks.IRSA|eks.PodIdentity); r != nil {
				removed[c.Name] = r
			}
			kept := ensureEnv(c, appEnv(c))
			status.Containers = append(status.Containers, c.Name)
			if len(kept) > 0 {
				if status.Kept == nil {
					status.Kept = map[string][]string{}
				}
				status.Kept[c.Name] = kept
			}
		}
	}

	// (4) EKS's token volumes that no container mounts any more (a
	// container in skip-containers may still) would only have the kubelet
	// mint a token for nothing.
	var removedVolumes []string
	spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool {
		if eks.IsTokenVolume(v) && !mounted(spec, v.Name) {
			removedVolumes = append(removedVolumes, v.Name)
			return true
		}
		return false
	})

	// (5) Once EKS's webhook has shown itself, name the containers
	// rolechain serves (and its own, unless EKS must give them the Pod
	// Identity env) in eks.amazonaws.com/skip-containers: if EKS's webhook
	// is called again after rolechain's last call (reinvocationPolicy
	// IfNeeded, ordered after rolechain), it then leaves them alone. Not
	// before: a webhook that has not run yet would then withhold from these
	// containers its region variables too, which it gives them when it
	// runs first; this way the containers end up alike in either order.
	skip := slices.Clone(status.Containers)
	if !podIdentity {
		skip = append(skip, ours...)
	}
	eksStatus := EKSStatus{}
	if eksTouched && len(skip) > 0 {
		value, err := eks.AddSkipContainers(out.Annotations[eks.SkipContainersAnnotation], skip)
		if err != nil {
			eksStatus.SkipContainersUnreadable = true
		} else {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[eks.SkipContainersAnnotation] = value
		}
	}
	if value, ok := out.Annotations[eks.SkipContainersAnnotation]; ok {
		if names, err := eks.SkipContainers(value); err == nil {
			for _, name := range skip {
				if slices.Contains(names, name) {
					eksStatus.SkipContainers = append(eksStatus.SkipContainers, name)
				}
			}
			slices.Sort(eksStatus.SkipContainers)
		}
	}
	eksStatus.Removed, eksStatus.RemovedVolumes = removed, removedVolumes
	if reinvoked {
		eksStatus.merge(previousEKSStatus(pod))
	}
	eksStatus.normalize()
	if !eksStatus.empty() {
		status.EKS = &eksStatus
	}

	// (6) The status annotation.
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

// adoptPodIdentity gives rolechain's containers that lack them the
// container-credentials env and token mount EKS's webhook gave an app
// container, as EKS gives them: only to a container that sets neither
// variable, and the mount only when the container has none of that name.
func adoptPodIdentity(spec *corev1.PodSpec) {
	var env []corev1.EnvVar
	var mount *corev1.VolumeMount
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			if c.Name == SidecarName || c.Name == InitName {
				continue
			}
			if e, m, ok := eks.PodIdentityInjection(c); ok && env == nil {
				env, mount = e, m
			}
		}
	}
	if env == nil {
		return // EKS's webhook has not run yet; when it does it gives them
	}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			if c.Name != SidecarName && c.Name != InitName {
				continue
			}
			if !isSet(c, eks.EnvContainerCredentialsFullURI) && !isSet(c, eks.EnvContainerAuthorizationTokenFile) {
				c.Env = append(c.Env, env...)
			}
			if mount != nil && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == mount.Name }) {
				c.VolumeMounts = append(c.VolumeMounts, *mount)
			}
		}
	}
}

// mounted reports whether any container of the pod mounts volume name.
func mounted(spec *corev1.PodSpec, name string) bool {
	has := func(mounts []corev1.VolumeMount) bool {
		return slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool { return m.Name == name })
	}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			if has(c.VolumeMounts) {
				return true
			}
		}
	}
	for _, c := range spec.EphemeralContainers {
		if has(c.VolumeMounts) {
			return true
		}
	}
	return false
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

// copyForMutation copies of pod what Mutate writes — the annotations, the
// volume list, the two container lists and each container's env and
// volume mounts — and shares the rest (labels, managed fields, every other
// field of the spec and of the containers, the status). A deep copy of the
// whole pod, and the patch's walk through all of it afterwards, were a
// seventh of the webhook's CPU per admission; with the rest shared, the
// walk skips it by identity (package patch). Anything Mutate comes to
// write must be copied here first: FuzzMutate checks that the input, and
// the output of a first pass given to a second, stay as they were.
func copyForMutation(pod *corev1.Pod) *corev1.Pod {
	out := *pod
	out.Annotations = maps.Clone(pod.Annotations)
	// Room for the two volumes, two init containers and one container
	// Mutate may add: Volume and Container are large structs, and growing
	// a list on its first append copied it again.
	out.Spec.Volumes = cloneWithRoom(pod.Spec.Volumes, 2)
	out.Spec.InitContainers = cloneContainers(pod.Spec.InitContainers, 2)
	out.Spec.Containers = cloneContainers(pod.Spec.Containers, 1)
	return &out
}

// cloneContainers copies the list, with room for n more, and each
// container's env and mounts.
func cloneContainers(list []corev1.Container, n int) []corev1.Container {
	out := cloneWithRoom(list, n)
	for i := range out {
		out[i].Env = slices.Clone(out[i].Env)
		out[i].VolumeMounts = slices.Clone(out[i].VolumeMounts)
	}
	return out
}

// cloneWithRoom copies list into a slice with room for n more items. nil
// stays nil, so that an absent list stays absent.
func cloneWithRoom[T any](list []T, n int) []T {
	if list == nil {
		return nil
	}
	return append(make([]T, 0, len(list)+n), list...)
}

func ensureVolume(spec *corev1.PodSpec, v corev1.Volume) {
	for _, have := range spec.Volumes {
		if have.Name == v.Name {
			return
		}
	}
	spec.Volumes = append(spec.Volumes, v)
}

func hasSidecar(spec *corev1.PodSpec) bool {
	return slices.ContainsFunc(spec.InitContainers, isSidecar) || slices.ContainsFunc(spec.Containers, isSidecar)
}

func isSidecar(c corev1.Container) bool { return c.Name == SidecarName }

func modeOf(spec *corev1.PodSpec) string {
	if slices.ContainsFunc(spec.Containers, isSidecar) {
		return ModeFallback
	}
	return ModeNative
}

// ensureMount adds the read-only credentials mount unless the container
// has it (a mount of its own is made read-only). It reports false, and adds nothing, when another volume is
// already mounted at the credentials path (the API server would reject a
// second mount there).
func ensureMount(c *corev1.Container) bool {
	for i, m := range c.VolumeMounts {
		if m.Name == CredentialsVolume {
			// An app container may read the credentials, never write
			// them: a co-tenant container could otherwise replace the
			// keys the app reads.
			c.VolumeMounts[i].ReadOnly = true
			return true
		}
		if m.MountPath == contract.OutputDir {
			return false
		}
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: CredentialsVolume, MountPath: contract.OutputDir, ReadOnly: true})
	return true
}

// ensureEnv appends each variable the container does not set and returns,
// sorted, the names it sets to a value of its own (never overwritten).
func ensureEnv(c *corev1.Container, want []corev1.EnvVar) []string {
	var kept []string
	for _, w := range want {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == w.Name })
		switch {
		case i < 0:
			c.Env = append(c.Env, w)
		case c.Env[i].ValueFrom != nil || c.Env[i].Value != w.Value:
			kept = append(kept, w.Name)
		}
	}
	slices.Sort(kept)
	return kept
}

// appEnv returns, for a container, the variables it should get. The SDKs
// read them as follows, which is why the set differs by mode:
//
//   - File mode: AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE point at
//     the sidecar's files. AWS_PROFILE is set only when the main profile is
//     not named "default" (the SDKs read [default] without it), and only in
//     a container that uses rolechain's credentials file: with a file of its
//     own, AWS_PROFILE naming a section that file lacks would make the SDKs
//     fail instead of falling back.
//   - Endpoint mode: AWS_CONTAINER_CREDENTIALS_FULL_URI and
//     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, and neither of the file
//     variables nor AWS_PROFILE: in every SDK's default chain keys from the
//     shared files win over the container endpoint, and Go v2 and botocore
//     never re-read those keys, so the app would keep expired credentials.
//   - Both: AWS_REGION and AWS_DEFAULT_REGION (older CLIs read only the
//     latter) when the main profile has a region, as a pair: a container
//     that sets either to another region gets neither.
func (in Injector) appEnv(cfg annotations.Config) func(*corev1.Container) []corev1.EnvVar {
	main := cfg.Main()
	return func(c *corev1.Container) []corev1.EnvVar {
		var env []corev1.EnvVar
		add := func(name, value string) { env = append(env, corev1.EnvVar{Name: name, Value: value}) }
		if cfg.CredentialsEndpoint {
			add(EnvContainerFullURI, EndpointURL(main.Name))
			add(EnvContainerTokenFile, contract.OutputDir+"/"+contract.EndpointTokenFileName)
		} else {
			credFile := contract.OutputDir + "/" + contract.CredentialsFileName
			add(EnvSharedCredentialsFile, credFile)
			add(EnvConfigFile, contract.OutputDir+"/"+contract.ConfigFileName)
			if main.Name != contract.DefaultProfileName && usesOwn(c, EnvSharedCredentialsFile, credFile) {
				add(EnvProfile, main.Name)
			}
		}
		if main.Region != "" {
			// The two region variables go as a pair: a container that sets
			// one of them to a region of its own gets neither from us, so
			// it never sees two different regions. The one it set is still
			// listed, to be reported as kept.
			own := usesOwn(c, EnvRegion, main.Region) && usesOwn(c, EnvDefaultRegion, main.Region)
			for _, name := range []string{EnvRegion, EnvDefaultRegion} {
				if own || isSet(c, name) {
					add(name, main.Region)
				}
			}
		}
		return env
	}
}

// usesOwn reports whether the container leaves name unset or set to value.
func usesOwn(c *corev1.Container, name, value string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return e.ValueFrom == nil && e.Value == value
		}
	}
	return true
}

func isSet(c *corev1.Container, name string) bool {
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// EndpointURL is the container-credentials URL of a profile.
func EndpointURL(profileName string) string { return contract.EndpointURL(profileName) }

// sidecar renders the long-running sidecar container.
func (in Injector) sidecar(cfg annotations.Config) (corev1.Container, error) {
	profiles, err := contract.Encode(cfg.Profiles)
	if err != nil {
		return corev1.Container{}, err
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	podIdentity := cfg.Source == annotations.SourcePodIdentity
	env := []corev1.EnvVar{{Name: contract.EnvProfiles, Value: profiles}}
	mounts := []corev1.VolumeMount{{Name: CredentialsVolume, MountPath: contract.OutputDir}}
	if podIdentity {
		// The chain starts from the container-credentials env that EKS's
		// webhook gives this container (see adoptPodIdentity).
		env = append(env, corev1.EnvVar{Name: contract.EnvSource, Value: contract.SourcePodIdentity})
	} else {
		env = append(env, corev1.EnvVar{Name: contract.EnvTokenFile, Value: contract.TokenFile})
		mounts = append(mounts, corev1.VolumeMount{Name: TokenVolume, MountPath: contract.TokenDir, ReadOnly: true})
	}
	env = append(env, []corev1.EnvVar{
		{Name: contract.EnvOutputDir, Value: contract.OutputDir},
		// A pod from generateName has no name yet at admission: the
		// downward API gives the sidecar its final name.
		fieldEnv(contract.EnvPodName, "metadata.name"),
		fieldEnv(contract.EnvPodNamespace, "metadata.namespace"),
		fieldEnv(contract.EnvServiceAccount, "spec.serviceAccountName"),
	}...)
	if cfg.CredentialsEndpoint {
		env = append(env, corev1.EnvVar{Name: contract.EnvCredentialsEndpointPort, Value: strconv.Itoa(contract.DefaultCredentialsEndpointPort)})
	}
	if cfg.RefreshInterval > 0 {
		env = append(env, corev1.EnvVar{Name: contract.EnvRefreshInterval, Value: cfg.RefreshInterval.String()})
	}
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{SidecarCommand, contract.ProbeCommand}}},
			PeriodSeconds:    period,
			FailureThreshold: failures,
		}
	}
	return corev1.Container{
		Name:            SidecarName,
		Image:           in.Image,
		ImagePullPolicy: in.PullPolicy,
		Command:         []string{SidecarCommand},
		Env:             env,
		// Shared with cfg, not copied: Parse builds them for this
		// admission alone, and a copy was a twentieth of its garbage.
		Resources:    cfg.Resources,
		VolumeMounts: mounts,
		// The kubelet starts the next container only once this succeeds:
		// every profile's credentials are on disk.
		StartupProbe:             probe(1, StartupFailureThreshold),
		ReadinessProbe:           probe(10, 3),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		// Pod Security "restricted".
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](SidecarUID),
			RunAsGroup:               ptr.To[int64](SidecarUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}, nil
}
