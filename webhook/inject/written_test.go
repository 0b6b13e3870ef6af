package inject_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/eks"
	"github.com/rolechain/rolechain/webhook/inject"
)

// handWrittenSecret stands for a value a pod author put into a
// hand-written container; no denial may repeat it.
const handWrittenSecret = "hand-written-secret-value"

// firstPass renders a one-profile pod in the given mode and returns the
// result, as a pod author would copy it (kubectl get -o yaml, kubectl
// debug --copy-to) or as the API server hands it to a second pass.
func firstPass(t *testing.T, native bool, source string) (*corev1.Pod, annotations.Config) {
	t.Helper()
	pod := &corev1.Pod{}
	pod.Namespace = "team-a"
	pod.Annotations = map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/target"}
	if source != "" {
		pod.Annotations[annotations.Source] = source
	} else {
		pod.Annotations[annotations.WebIdentityRoleARN] = "arn:aws:iam::111111111111:role/web"
	}
	pod.Spec.ServiceAccountName = "app"
	pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "app:1"}}
	cfg, errs, _ := annotations.Parse(pod, nil, testDefaults)
	if len(errs) > 0 {
		t.Fatal(errs.ToAggregate())
	}
	out, _, err := testInjector(native).Mutate(pod, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out, cfg
}

// sidecarOf returns the pod's rolechain-sidecar container.
func sidecarOf(t *testing.T, pod *corev1.Pod) *corev1.Container {
	t.Helper()
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		if i := slices.IndexFunc(list, func(c corev1.Container) bool { return c.Name == inject.SidecarName }); i >= 0 {
			return &list[i]
		}
	}
	t.Fatal("no sidecar")
	return nil
}

func volumeOf(pod *corev1.Pod, name string) *corev1.Volume {
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	return &pod.Spec.Volumes[i]
}

// TestAHandWrittenSidecarIsDenied: a pod author keeps an annotation the
// namespace's policy allows and brings their own rolechain-sidecar (or
// rolechain's volumes), which would assume other roles, trust another CA
// or hand the token elsewhere. Before the check, Mutate kept it "as written
// by hand" and recorded the annotations' roles in the status.
func TestAHandWrittenSidecarIsDenied(t *testing.T) {
	cases := []struct {
		name   string
		native bool
		change func(t *testing.T, pod *corev1.Pod)
		field  string
	}{
		{"another image", true, func(t *testing.T, p *corev1.Pod) { sidecarOf(t, p).Image = "attacker/sidecar:1" }, "spec.initContainers[0].image"},
		{"the image with a suffix that is not a digest", true, func(t *testing.T, p *corev1.Pod) {
			sidecarOf(t, p).Image += "-evil"
		}, "spec.initContainers[0].image"},
		{"other profiles", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == contract.EnvProfiles })
			c.Env[i].Value = strings.ReplaceAll(c.Env[i].Value, "role/target", "role/admin")
		}, "spec.initContainers[0].env"},
		{"a CA bundle of the author's", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			c.Env = append(c.Env, corev1.EnvVar{Name: "SSL_CERT_FILE", Value: "/tmp/" + handWrittenSecret})
		}, "spec.initContainers[0].env"},
		{"a proxy", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			c.Env = append(c.Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://" + handWrittenSecret})
		}, "spec.initContainers[0].env"},
		{"env from a secret", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
		}, "spec.initContainers[0].envFrom"},
		{"another command", true, func(t *testing.T, p *corev1.Pod) { sidecarOf(t, p).Command = []string{"/bin/sh", "-c", "env"} }, "spec.initContainers[0].command"},
		{"args", true, func(t *testing.T, p *corev1.Pod) { sidecarOf(t, p).Args = []string{"--once"} }, "spec.initContainers[0].args"},
		{"a mount over the CA store", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "evil", MountPath: "/etc/ssl/certs"})
		}, "spec.initContainers[0].volumeMounts"},
		{"a writable token mount", true, func(t *testing.T, p *corev1.Pod) {
			c := sidecarOf(t, p)
			for i := range c.VolumeMounts {
				c.VolumeMounts[i].ReadOnly = false
			}
		}, "spec.initContainers[0].volumeMounts"},
		{"root", true, func(t *testing.T, p *corev1.Pod) {
			sidecarOf(t, p).SecurityContext.RunAsUser = ptr.To[int64](0)
		}, "spec.initContainers[0].securityContext"},
		{"another token audience", true, func(t *testing.T, p *corev1.Pod) {
			volumeOf(p, inject.TokenVolume).Projected.Sources[0].ServiceAccountToken.Audience = "vault"
		}, "spec.volumes[1]"},
		{"credentials on a host path", true, func(t *testing.T, p *corev1.Pod) {
			volumeOf(p, inject.CredentialsVolume).VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
		}, "spec.volumes[0]"},
		{"an app container that mounts the token", true, func(t *testing.T, p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: inject.TokenVolume, MountPath: "/t"})
		}, "spec.containers[0].volumeMounts[1]"},
		{"fallback's init container with other profiles", false, func(t *testing.T, p *corev1.Pod) {
			c := &p.Spec.InitContainers[0]
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == contract.EnvProfiles })
		}, "spec.initContainers[0].env"},
		{"fallback's sidecar with another image", false, func(t *testing.T, p *corev1.Pod) { sidecarOf(t, p).Image = "attacker/sidecar:1" }, "spec.containers[1].image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, cfg := firstPass(t, tc.native, "")
			tc.change(t, pod)
			_, _, err := testInjector(tc.native).Mutate(pod, cfg, nil)
			var mismatch *inject.MismatchError
			if !errors.As(err, &mismatch) {
				t.Fatalf("Mutate = %v, want a *MismatchError", err)
			}
			if len(mismatch.Errs) != 1 || mismatch.Errs[0].Field != tc.field {
				t.Fatalf("errors %v, want one at %s", mismatch.Errs, tc.field)
			}
			if strings.Contains(err.Error(), handWrittenSecret) || strings.Contains(err.Error(), "role/admin") {
				t.Fatalf("the denial repeats what the pod wrote: %v", err)
			}
		})
	}
}

// TestTheSecondPassAcceptsWhatTheAPIServerStored: between two passes the
// API server fills in its defaults on what rolechain rendered, EKS's
// webhook may add its env and mounts to every container, and an
// image-pinning webhook may pin the image to its digest; none of that is a
// sidecar written by hand. This failed on envtest before the defaults were
// taken into account (0d8bed9, taken back in 422081a).
func TestTheSecondPassAcceptsWhatTheAPIServerStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		native bool
		source string
	}{{"native", true, ""}, {"fallback", false, ""}, {"pod-identity", true, contract.SourcePodIdentity}} {
		t.Run(tc.name, func(t *testing.T) {
			pod, cfg := firstPass(t, tc.native, tc.source)
			for _, v := range pod.Spec.Volumes {
				if v.Projected != nil {
					v.Projected.DefaultMode = ptr.To[int32](0o644)
				}
			}
			for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
				for i := range list {
					c := &list[i]
					for j := range c.Env {
						if f := c.Env[j].ValueFrom; f != nil && f.FieldRef != nil {
							f.FieldRef.APIVersion = "v1"
						}
					}
					c.TerminationMessagePath = "/dev/termination-log"
					// The ServiceAccount admission plugin, run again on
					// reinvocation, mounts the API token into every container.
					c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true})
					// What EKS's webhook gives every container it serves.
					c.Env = append(c.Env,
						corev1.EnvVar{Name: "AWS_STS_REGIONAL_ENDPOINTS", Value: "regional"},
						corev1.EnvVar{Name: "AWS_REGION", Value: "eu-west-1"},
						corev1.EnvVar{Name: eks.EnvRoleARN, Value: "arn:aws:iam::111111111111:role/irsa"},
						corev1.EnvVar{Name: eks.EnvWebIdentityTokenFile, Value: eks.IRSATokenFile})
					c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: eks.IRSAVolume, MountPath: eks.IRSAMountPath, ReadOnly: true})
					if c.Name == inject.SidecarName {
						c.Image += "@sha256:" + strings.Repeat("ab", 32)
					}
				}
			}
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: eks.IRSAVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "sts.amazonaws.com", ExpirationSeconds: ptr.To[int64](86400), Path: eks.IRSATokenPath}}},
			}}})
			if _, _, err := testInjector(tc.native).Mutate(pod, cfg, nil); err != nil {
				t.Fatalf("second pass: %v", err)
			}
		})
	}
}
