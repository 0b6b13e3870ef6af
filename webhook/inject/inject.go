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
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/sidecar/profile"
	"github.com/rolechain/rolechain/webhook/annotations"
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
	SidecarCommand = "/rolechain-sidecar"
	// InitArg makes the fallback init container exit once every profile's
	// credentials are written to the credentials volume.
	InitArg = "--exit-when-ready"
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
	EnvContainerFullURI      = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerTokenFile    = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
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
	// NamespacePolicy is how the namespace's
	// rolechain.dev/allowed-role-arns judged the pod: the pattern that
	// admitted each role, or that none applied. Absent when the caller
	// checked none (the webhook server always does).
	NamespacePolicy *annotations.NamespacePolicy `json:"namespacePolicy,omitempty"`
	// SessionPolicies maps each profile whose target session is narrowed
	// by a session policy to its kinds: SessionPolicyInline,
	// SessionPolicyManaged. Profiles without one are absent.
	SessionPolicies map[string][]string `json:"sessionPolicies,omitempty"`
}

// Mutate returns a copy of pod with the sidecar injected as cfg describes,
// and the status it wrote into the pod's annotations. A pod that already
// carries the sidecar keeps it as it is; only containers still missing the
// mount or env receive them. The input pod is not modified.
func (in Injector) Mutate(pod *corev1.Pod, cfg annotations.Config) (*corev1.Pod, Status, error) {
	out := pod.DeepCopy()
	spec := &out.Spec

	// (1) Volumes, by name: the credentials tmpfs and the projected token.
	ensureVolume(spec, corev1.Volume{
		Name: CredentialsVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium:    corev1.StorageMediumMemory,
			SizeLimit: ptr.To(CredentialsVolumeSizeLimit.DeepCopy()),
		}},
	})
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

	// (3) Mount and env into every selected container.
	appEnv := in.appEnv(cfg)
	status := Status{Mode: modeOf(spec)}
	for _, p := range cfg.Profiles {
		status.Profiles = append(status.Profiles, p.Name)
	}
	status.NamespacePolicy, status.SessionPolicies = cfg.NamespacePolicy, sessionPolicies(cfg)
	for _, list := range []*[]corev1.Container{&spec.InitContainers, &spec.Containers} {
		for i := range *list {
			c := &(*list)[i]
			if c.Name == SidecarName || c.Name == InitName || slices.Contains(cfg.SkipContainers, c.Name) {
				continue
			}
			if !ensureMount(c) {
				status.MountConflicts = append(status.MountConflicts, c.Name)
				continue
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

	// (4) The status annotation.
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
// has it. It reports false, and adds nothing, when another volume is
// already mounted at the credentials path (the API server would reject a
// second mount there).
func ensureMount(c *corev1.Container) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == CredentialsVolume {
			return true
		}
		if m.MountPath == profile.OutputDir {
			return false
		}
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: CredentialsVolume, MountPath: profile.OutputDir, ReadOnly: true})
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
			add(EnvContainerTokenFile, profile.OutputDir+"/"+profile.EndpointTokenFileName)
		} else {
			credFile := profile.OutputDir + "/" + profile.CredentialsFileName
			add(EnvSharedCredentialsFile, credFile)
			add(EnvConfigFile, profile.OutputDir+"/"+profile.ConfigFileName)
			if main.Name != profile.DefaultProfileName && usesOwn(c, EnvSharedCredentialsFile, credFile) {
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
func EndpointURL(profileName string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/v1/credentials/%s", profile.DefaultCredentialsEndpointPort, profileName)
}

// sidecar renders the long-running sidecar container.
func (in Injector) sidecar(cfg annotations.Config) (corev1.Container, error) {
	profiles, err := profile.Encode(cfg.Profiles)
	if err != nil {
		return corev1.Container{}, err
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	env := []corev1.EnvVar{
		{Name: profile.EnvProfiles, Value: profiles},
		{Name: profile.EnvTokenFile, Value: profile.TokenFile},
		{Name: profile.EnvOutputDir, Value: profile.OutputDir},
		// A pod from generateName has no name yet at admission: the
		// downward API gives the sidecar its final name.
		fieldEnv(profile.EnvPodName, "metadata.name"),
		fieldEnv(profile.EnvPodNamespace, "metadata.namespace"),
		fieldEnv(profile.EnvServiceAccount, "spec.serviceAccountName"),
	}
	if cfg.CredentialsEndpoint {
		env = append(env, corev1.EnvVar{Name: profile.EnvCredentialsEndpointPort, Value: strconv.Itoa(profile.DefaultCredentialsEndpointPort)})
	}
	if cfg.RefreshInterval > 0 {
		env = append(env, corev1.EnvVar{Name: profile.EnvRefreshInterval, Value: cfg.RefreshInterval.String()})
	}
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{SidecarCommand, "probe"}}},
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
		Resources:       *cfg.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: CredentialsVolume, MountPath: profile.OutputDir},
			{Name: TokenVolume, MountPath: profile.TokenDir, ReadOnly: true},
		},
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
