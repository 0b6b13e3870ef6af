package inject

import (
	"cmp"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
)

// volumes renders rolechain's volumes: the credentials tmpfs and, for web
// identity, the projected token.
func volumes(cfg annotations.Config) []corev1.Volume {
	vs := []corev1.Volume{{
		Name: CredentialsVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium:    corev1.StorageMediumMemory,
			SizeLimit: ptr.To(CredentialsVolumeSizeLimit.DeepCopy()),
		}},
	}}
	if cfg.Source != annotations.SourcePodIdentity {
		vs = append(vs, corev1.Volume{
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
	return vs
}

// addSidecar adds the sidecar. It goes first among the init containers so
// that every later init container and every app container starts with
// credentials present.
func (in Injector) addSidecar(spec *corev1.PodSpec, cfg annotations.Config) error {
	sidecar, err := in.sidecar(cfg)
	if err != nil {
		return err
	}
	if in.NativeSidecars {
		sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		spec.InitContainers = slices.Insert(spec.InitContainers, 0, sidecar)
		return nil
	}
	// Fallback: a one-shot init container writes the first credentials,
	// then the regular sidecar keeps them fresh. It is appended so that the
	// app stays the pod's first (default) container for kubectl logs/exec.
	spec.InitContainers = slices.Insert(spec.InitContainers, 0, initContainer(sidecar))
	spec.Containers = append(spec.Containers, sidecar)
	return nil
}

// initContainer renders fallback mode's init container from the sidecar.
// It runs the daemon path until every profile's files are in the volume
// (--once would only print them), retrying as the sidecar does, and fails
// rather than exit 0 without them.
func initContainer(sidecar corev1.Container) corev1.Container {
	initc := *sidecar.DeepCopy()
	initc.Name = InitName
	initc.Args = []string{InitArg}
	initc.StartupProbe, initc.ReadinessProbe = nil, nil
	return initc
}

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
	if cfg.SessionTagKeys != (contract.SessionTagKeys{}) && slices.ContainsFunc(cfg.Profiles, func(p contract.Profile) bool { return p.SessionTags }) {
		env = append(env, corev1.EnvVar{Name: contract.EnvSessionTagKeys, Value: cfg.SessionTagKeys.String()})
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
			RunAsUser:                ptr.To(cmp.Or(in.UID, SidecarUID)),
			RunAsGroup:               ptr.To(cmp.Or(in.GID, SidecarUID)),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}, nil
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

// EndpointURL is the container-credentials URL of a profile.
func EndpointURL(profileName string) string { return contract.EndpointURL(profileName) }
