package inject

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/eks"
)

// MismatchError is returned by Mutate when the pod already carries one of
// rolechain's containers or volumes and it is not what the configuration
// renders. A sidecar written by hand (another image, another
// ROLECHAIN_PROFILES, an SSL_CERT_FILE of the author's, a writable token
// mount, …) would assume roles the namespace's policy never judged, while
// the status recorded the annotations' roles. The webhook denies the pod.
type MismatchError struct {
	Errs field.ErrorList
}

func (e *MismatchError) Error() string { return e.Errs.ToAggregate().Error() }

// digestSuffix is what an image-pinning webhook (Kyverno's mutateDigest,
// for one) appends to an image reference: the same repository and tag,
// pinned to the digest they resolved to.
var digestSuffix = regexp.MustCompile(`^@sha256:[0-9a-f]{64}$`)

// checkWritten compares what the pod already has of rolechain's — the
// sidecar, the fallback init container and the two volumes — with what cfg
// renders, and checks that no other container mounts the token. It runs
// on every pass: on the first, what the pod carries was written by its
// author; on a reinvocation, by rolechain's earlier pass, as the API server
// and later webhooks left it. So both sides are first brought to the form
// the API server stores (its defaults for what rolechain leaves unset) and
// stripped of what EKS's webhook may add; then every field that changes
// what the sidecar does is compared: image, command, args, env, envFrom,
// mounts, devices, working directory and security context. Probes and
// resources, which other admission plugins may adjust, are left out.
func (in Injector) checkWritten(spec *corev1.PodSpec, cfg annotations.Config) error {
	// Rendered only for a pod that carries one of rolechain's containers:
	// most passes are a first pass over a pod without.
	var want *corev1.Container
	render := func(name string) (corev1.Container, error) {
		if want == nil {
			c, err := in.sidecar(cfg)
			if err != nil {
				return corev1.Container{}, err
			}
			want = &c
		}
		if name == InitName {
			return initContainer(*want), nil
		}
		return *want, nil
	}
	var errs field.ErrorList
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, c := range list.containers {
			path := field.NewPath("spec", list.name).Index(i)
			switch c.Name {
			case SidecarName, InitName:
				w, err := render(c.Name)
				if err != nil {
					return err
				}
				errs = append(errs, compareContainer(path, c, w)...)
			default:
				for j, m := range c.VolumeMounts {
					if m.Name == TokenVolume {
						errs = append(errs, field.Forbidden(path.Child("volumeMounts").Index(j),
							fmt.Sprintf("container %q mounts %s, rolechain's web-identity token: only %s may", c.Name, TokenVolume, SidecarName)))
					}
				}
			}
		}
	}
	var wantVolumes []corev1.Volume
	for i, v := range spec.Volumes {
		if v.Name != CredentialsVolume && v.Name != TokenVolume {
			continue
		}
		if wantVolumes == nil {
			wantVolumes = volumes(cfg)
		}
		j := slices.IndexFunc(wantVolumes, func(w corev1.Volume) bool { return w.Name == v.Name })
		if j < 0 {
			// The token volume in a pod whose source is pod-identity:
			// rolechain renders none, and no container of its mounts it.
			errs = append(errs, field.Forbidden(field.NewPath("spec", "volumes").Index(i),
				fmt.Sprintf("volume %q is rolechain's, and the pod's annotations render none; remove it", v.Name)))
			continue
		}
		if !equality.Semantic.DeepEqual(storedVolume(v.VolumeSource), storedVolume(wantVolumes[j].VolumeSource)) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "volumes").Index(i),
				fmt.Sprintf("volume %q is rolechain's and differs from what the pod's annotations render; remove it and let the webhook add it", v.Name)))
		}
	}
	if len(errs) > 0 {
		return &MismatchError{Errs: errs}
	}
	return nil
}

// compareContainer lists the fields in which have differs from want. The
// errors name the field, never its value: a hand-written env may hold a
// secret.
func compareContainer(path *field.Path, have, want corev1.Container) field.ErrorList {
	h, w := storedContainer(have), storedContainer(want)
	var errs field.ErrorList
	differs := func(name string, a, b any) {
		if !equality.Semantic.DeepEqual(a, b) {
			errs = append(errs, field.Forbidden(path.Child(name),
				fmt.Sprintf("container %q is rolechain's and its %s differs from what the pod's annotations render; remove the container and let the webhook add it", have.Name, name)))
		}
	}
	if !sameImage(h.Image, w.Image) {
		differs("image", h.Image, w.Image)
	}
	differs("command", h.Command, w.Command)
	differs("args", h.Args, w.Args)
	differs("env", h.Env, w.Env)
	differs("envFrom", h.EnvFrom, w.EnvFrom)
	differs("volumeMounts", h.VolumeMounts, w.VolumeMounts)
	differs("volumeDevices", h.VolumeDevices, w.VolumeDevices)
	differs("workingDir", h.WorkingDir, w.WorkingDir)
	differs("securityContext", h.SecurityContext, w.SecurityContext)
	return errs
}

// sameImage accepts the rendered image, or it pinned to a digest.
func sameImage(have, want string) bool {
	return have == want || (strings.HasPrefix(have, want) && digestSuffix.MatchString(have[len(want):]))
}

// storedContainer returns a copy of c as the API server stores it, without
// what EKS's webhook and the ServiceAccount admission plugin may have
// added: the API token's mount (isServiceAccountMount), the IRSA and Pod Identity env pairs
// and mounts (with the agent's own values only; a pair pointing anywhere
// else stays and differs) and EKS's region variables, which EKS gives
// rolechain's containers too and which the sidecar does not read for the
// sources the webhook renders (each profile carries its own region; only
// the default-chain source, never rendered, reads them).
func storedContainer(c corev1.Container) corev1.Container {
	c = *c.DeepCopy()
	eks.Strip(&c, eks.IRSA|eks.PodIdentity)
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return slices.Contains(eks.RegionEnv, e.Name) })
	c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, isServiceAccountMount)
	for i := range c.Env {
		if f := c.Env[i].ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.APIVersion == "" {
			f.FieldRef.APIVersion = "v1"
		}
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	if len(c.VolumeMounts) == 0 {
		c.VolumeMounts = nil
	}
	return c
}

// serviceAccountMountPath is where the ServiceAccount admission plugin
// mounts the pod's API token into every container.
const serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// isServiceAccountMount reports whether m is the ServiceAccount admission
// plugin's read-only mount of the API token. kube-apiserver runs its
// in-tree mutating plugins again when it reinvokes a webhook, so that
// plugin mounts the token into the sidecar rolechain added in the first
// pass (unless the pod sets automountServiceAccountToken: false). It gives
// the sidecar nothing a pod author could not give it anyway.
func isServiceAccountMount(m corev1.VolumeMount) bool {
	return m.MountPath == serviceAccountMountPath && m.ReadOnly && strings.HasPrefix(m.Name, "kube-api-access-")
}

// storedVolume returns a copy of v with the API server's defaults for what
// rolechain leaves unset: a projected volume's defaultMode (0644) and a
// token's expirationSeconds (3600).
func storedVolume(v corev1.VolumeSource) corev1.VolumeSource {
	v = *v.DeepCopy()
	if p := v.Projected; p != nil {
		if p.DefaultMode == nil {
			p.DefaultMode = ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode)
		}
		for _, s := range p.Sources {
			if t := s.ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = ptr.To[int64](3600)
			}
		}
	}
	return v
}
