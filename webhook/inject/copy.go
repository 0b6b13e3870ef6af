package inject

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

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
