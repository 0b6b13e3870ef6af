package inject

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/eks"
)

// MismatchError is returned by Mutate when the pod already carries one of
// rolechain's containers or volumes and it is not what the configuration
// renders: a sidecar written by hand (another image, another
// ROLECHAIN_PROFILES, a writable token mount, …) would run roles the
// namespace's policy never judged, while the status recorded the
// annotations' roles. The webhook denies such a pod.
type MismatchError struct {
	Errs field.ErrorList
}

func (e *MismatchError) Error() string { return e.Errs.ToAggregate().Error() }

// checkWritten compares what the pod already has of rolechain's — the
// sidecar, the fallback init container, the two volumes, and which
// containers mount the token — with what cfg renders. Only the fields the
// pod author could use to change what the sidecar does are compared:
// image, command, arguments, environment, mounts and security context.
// What EKS's pod identity webhook injects into rolechain's containers (and
// what rolechain adopts from it for pod-identity) is left out, since a
// later webhook may add it between two passes; the kubelet-facing fields
// (probes, resources) other admission plugins may default.
func (in Injector) checkWritten(spec *corev1.PodSpec, cfg annotations.Config, volumes []corev1.Volume) error {
	var errs field.ErrorList
	want, err := in.sidecar(cfg)
	if err != nil {
		return err
	}
	wantInit := want
	wantInit.Name, wantInit.Args = InitName, []string{InitArg}
	podIdentity := cfg.Source == annotations.SourcePodIdentity
	for _, list := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range list.cs {
			path := field.NewPath("spec", list.name).Index(i)
			switch c.Name {
			case SidecarName:
				errs = append(errs, compareContainer(path, c, want, podIdentity)...)
			case InitName:
				errs = append(errs, compareContainer(path, c, wantInit, podIdentity)...)
			default:
				for j, m := range c.VolumeMounts {
					if m.Name == TokenVolume {
						errs = append(errs, field.Forbidden(path.Child("volumeMounts").Index(j), fmt.Sprintf("container %q mounts %s, rolechain's web-identity token: only %s may", c.Name, TokenVolume, SidecarName)))
					}
				}
			}
		}
	}
	for i, v := range spec.Volumes {
		for _, w := range volumes {
			if v.Name == w.Name && !equality.Semantic.DeepEqual(v.VolumeSource, w.VolumeSource) {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "volumes").Index(i), fmt.Sprintf("volume %q is rolechain's and differs from what the pod's annotations render; remove it and let the webhook add it", v.Name)))
			}
		}
	}
	if len(errs) > 0 {
		return &MismatchError{Errs: errs}
	}
	return nil
}

func compareContainer(path *field.Path, have, want corev1.Container, podIdentity bool) field.ErrorList {
	var errs field.ErrorList
	differs := func(name string, a, b any) {
		if !equality.Semantic.DeepEqual(a, b) {
			errs = append(errs, field.Forbidden(path.Child(name), fmt.Sprintf("container %q is rolechain's and its %s differs from what the pod's annotations render; remove the container and let the webhook add it", have.Name, name)))
		}
	}
	// What EKS's webhook may have added between two passes (rolechain
	// removes it from the sidecar, or keeps it for pod-identity).
	h := *have.DeepCopy()
	eks.Strip(&h, eks.IRSA|eks.PodIdentity)
	if podIdentity {
		h.Env = slices.DeleteFunc(h.Env, func(e corev1.EnvVar) bool {
			return e.Name == eks.EnvContainerCredentialsFullURI || e.Name == eks.EnvContainerAuthorizationTokenFile
		})
		h.VolumeMounts = slices.DeleteFunc(h.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == eks.PodIdentityVolume })
	}
	differs("image", h.Image, want.Image)
	differs("command", h.Command, want.Command)
	differs("args", h.Args, want.Args)
	// The sidecar reads only its ROLECHAIN_* variables (and, for
	// pod-identity, the pair above); the region variables EKS's webhook
	// adds to every container change nothing it does.
	ours := func(env []corev1.EnvVar) []corev1.EnvVar {
		return slices.DeleteFunc(slices.Clone(env), func(e corev1.EnvVar) bool { return !strings.HasPrefix(e.Name, "ROLECHAIN_") })
	}
	differs("env", ours(h.Env), ours(want.Env))
	differs("volumeMounts", h.VolumeMounts, want.VolumeMounts)
	differs("securityContext", h.SecurityContext, want.SecurityContext)
	return errs
}
