// Package credentialsmode decides whether a pod's app containers are
// pointed at rolechain's credentials file or at its container-credentials
// endpoint: the pod's own rolechain.dev/credentials-endpoint wins, then its
// namespace's rolechain.dev/credentials-mode, then the cluster's default
// (the webhook's --default-credentials-mode). It also says when file mode
// is likely the wrong choice: a pod that runs until it is stopped, whose
// AWS SDK reads the file once and fails once those keys expire.
package credentialsmode

import (
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// Path is where errors about a namespace's default are rooted: the
// annotation on the namespace, so that a denied user reads which object
// and which key to ask a cluster admin about.
func Path(namespace string) *field.Path {
	return field.NewPath("namespaces").Key(namespace).Child("metadata", "annotations").Key(annotations.CredentialsMode)
}

// Resolve returns the pod's credentials mode and where it came from:
// pod > namespace > cluster. nsAnnotations are the annotations of the
// pod's namespace (nil when it has none); cluster is the webhook's
// --default-credentials-mode, which its flags validated ("" is file).
// A malformed namespace default is an error only for the pods it would
// decide.
func Resolve(pod *corev1.Pod, cfg annotations.Config, namespace string, nsAnnotations map[string]string, cluster string) (annotations.CredentialsModeChoice, *field.Error) {
	if c, ok := fromPod(pod, cfg); ok {
		return c, nil
	}
	return fromDefaults(namespace, nsAnnotations, cluster)
}

// fromPod returns the mode the pod decides itself, and false when it leaves
// it to the defaults. A pod decides with its own credentials-endpoint
// annotation (Parse recorded it in cfg); or, when it already carries
// rolechain's sidecar, with that sidecar: the injection keeps a sidecar as
// it is, so the app containers must get the mode it serves whatever the
// namespace says now. The status an earlier pass wrote then says where the
// choice came from, if it agrees with the sidecar: it is the pod's own
// text, so nothing else of it is believed.
func fromPod(pod *corev1.Pod, cfg annotations.Config) (annotations.CredentialsModeChoice, bool) {
	if cfg.CredentialsMode != nil {
		return *cfg.CredentialsMode, true
	}
	endpoint, ok := sidecarServesEndpoint(pod)
	if !ok {
		return annotations.CredentialsModeChoice{}, false
	}
	c := annotations.CredentialsModeChoice{Mode: modeName(endpoint), From: annotations.CredentialsModeFromPod}
	var prev struct {
		CredentialsMode *annotations.CredentialsModeChoice `json:"credentialsMode"`
	}
	if json.Unmarshal([]byte(pod.Annotations[annotations.Status]), &prev) == nil && prev.CredentialsMode != nil &&
		prev.CredentialsMode.Mode == c.Mode && slices.Contains(annotations.CredentialsModeFroms, prev.CredentialsMode.From) {
		c.From = prev.CredentialsMode.From
	}
	return c, true
}

// fromDefaults returns the namespace's default when its annotations set
// one, else the cluster's. A value other than file or endpoint is an error
// naming the annotation: falling back to the cluster default would give
// the namespace the very mode its admin tried to change, behind a warning
// that the controllers creating pods show no one.
func fromDefaults(namespace string, nsAnnotations map[string]string, cluster string) (annotations.CredentialsModeChoice, *field.Error) {
	if v, ok := nsAnnotations[annotations.CredentialsMode]; ok {
		if !slices.Contains(annotations.CredentialsModes, v) {
			return annotations.CredentialsModeChoice{}, field.Invalid(Path(namespace), v, fmt.Sprintf(
				"must be %q or %q. Pods of namespace %q that do not set %s themselves are denied until a cluster admin fixes the annotation",
				annotations.CredentialsModeFile, annotations.CredentialsModeEndpoint, namespace, annotations.CredentialsEndpoint))
		}
		return annotations.CredentialsModeChoice{Mode: v, From: annotations.CredentialsModeFromNamespace}, nil
	}
	if cluster == "" {
		cluster = annotations.CredentialsModeFile
	}
	return annotations.CredentialsModeChoice{Mode: cluster, From: annotations.CredentialsModeFromCluster}, nil
}

// Apply sets cfg to the chosen mode, for the injection and its status.
func Apply(cfg *annotations.Config, c annotations.CredentialsModeChoice) {
	cfg.CredentialsEndpoint = c.Mode == annotations.CredentialsModeEndpoint
	cfg.CredentialsMode = &c
}

// Lifetime labels, LongRunning's answer in the metric.
const (
	LifetimeLongRunning     = "long-running"
	LifetimeRunToCompletion = "run-to-completion"
)

// LongRunning reports whether the pod looks like a service that runs until
// it is stopped: its restartPolicy is Always, or unset (the API server
// defaults it to Always). It is the field the kubelet acts on, and the API
// server enforces it for controllers: a Job's (and so a CronJob's) pods
// must be Never or OnFailure, a Deployment's, StatefulSet's, DaemonSet's or
// ReplicaSet's must be Always. ownerReferences would add nothing to that,
// and would miss bare pods and custom controllers.
func LongRunning(pod *corev1.Pod) bool {
	return pod.Spec.RestartPolicy != corev1.RestartPolicyNever && pod.Spec.RestartPolicy != corev1.RestartPolicyOnFailure
}

// Lifetime is the metric's label for the pod: LifetimeLongRunning or
// LifetimeRunToCompletion.
func Lifetime(pod *corev1.Pod) string {
	if LongRunning(pod) {
		return LifetimeLongRunning
	}
	return LifetimeRunToCompletion
}

// Warnings returns what the pod's author should read about a mode a default
// chose: file mode for a long-running pod, whose SDK reads the keys once;
// endpoint mode on the host network, where the endpoint takes the node's
// loopback port. A pod that chose its mode gets the annotations package's
// warnings instead. Each stays within the 256 characters the API server
// may truncate a warning to.
func Warnings(pod *corev1.Pod, c annotations.CredentialsModeChoice) []string {
	if c.From == annotations.CredentialsModeFromPod {
		return nil
	}
	switch {
	case c.Mode == annotations.CredentialsModeFile && LongRunning(pod):
		return []string{fmt.Sprintf("credentials file by the %s's default, and restartPolicy is Always: long-running AWS SDK clients read it once and fail with ExpiredToken when the keys expire; set %s: \"true\"",
			c.From, annotations.CredentialsEndpoint)}
	case c.Mode == annotations.CredentialsModeEndpoint && pod.Spec.HostNetwork:
		return []string{fmt.Sprintf("credentials endpoint by the %s's default on the host network: it takes the node's 127.0.0.1:%d, so a second such pod on the node fails; set %s: \"false\" for the file",
			c.From, contract.DefaultCredentialsEndpointPort, annotations.CredentialsEndpoint)}
	}
	return nil
}

func modeName(endpoint bool) string {
	if endpoint {
		return annotations.CredentialsModeEndpoint
	}
	return annotations.CredentialsModeFile
}

// sidecarServesEndpoint reports, for a pod that carries rolechain's
// sidecar, whether that sidecar serves the endpoint: it has the port
// variable the injection gives it in endpoint mode only.
func sidecarServesEndpoint(pod *corev1.Pod) (endpoint, ok bool) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == inject.SidecarName {
				return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == contract.EnvCredentialsEndpointPort }), true
			}
		}
	}
	return false, false
}
