package inject

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/webhook/eks"
)

// cleanUpEKS removes EKS's token volumes that no container mounts any
// more and, once EKS's webhook has shown itself, names the containers
// rolechain serves (and its own, unless EKS must give them the Pod
// Identity env) in eks.amazonaws.com/skip-containers. It returns what it
// did; the caller adds what was stripped from the containers.
func cleanUpEKS(out *corev1.Pod, served, ours []string, podIdentity, eksTouched bool) EKSStatus {
	var s EKSStatus
	spec := &out.Spec
	// EKS's token volumes that no container mounts any more (a container
	// in skip-containers may still) would only have the kubelet mint a
	// token for nothing.
	spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool {
		if eks.IsTokenVolume(v) && !mounted(spec, v.Name) {
			s.RemovedVolumes = append(s.RemovedVolumes, v.Name)
			return true
		}
		return false
	})

	// If EKS's webhook is called again after rolechain's last call
	// (reinvocationPolicy IfNeeded, ordered after rolechain), the skip list
	// makes it leave these containers alone. Not before EKS has run: a
	// webhook that has not run yet would then withhold from these
	// containers its region variables too, which it gives them when it
	// runs first; this way the containers end up alike in either order.
	skip := slices.Clone(served)
	if !podIdentity {
		skip = append(skip, ours...)
	}
	if eksTouched && len(skip) > 0 {
		value, err := eks.AddSkipContainers(out.Annotations[eks.SkipContainersAnnotation], skip)
		if err != nil {
			s.SkipContainersUnreadable = true
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
					s.SkipContainers = append(s.SkipContainers, name)
				}
			}
			slices.Sort(s.SkipContainers)
		}
	}
	return s
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
