package inject_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/inject"
)

// webhook is one mutating webhook as the API server sees it.
type webhook struct {
	name     string
	ifNeeded bool // reinvocationPolicy: IfNeeded
	// matches is the objectSelector; nil matches every pod.
	matches func(*corev1.Pod) bool
	mutate  func(*corev1.Pod) *corev1.Pod
}

// admit runs webhooks as kube-apiserver 1.33 does
// (k8s.io/apiserver/pkg/admission/plugin/webhook/mutating/dispatcher.go and
// reinvocationcontext.go): in name order; after a webhook changes the pod,
// every webhook called earlier with reinvocationPolicy IfNeeded is marked
// for reinvocation; if anything changed, one more round calls the marked
// webhooks, in name order, marking again as it goes. There is no third
// round. A webhook not called in the first round is not called in the
// second.
func admit(pod *corev1.Pod, hooks []webhook) *corev1.Pod {
	hooks = slices.Clone(hooks)
	sort.Slice(hooks, func(i, j int) bool { return hooks[i].name < hooks[j].name })
	previous, reinvoke, called := map[string]bool{}, map[string]bool{}, map[string]bool{}
	changedAny := false
	round := func(second bool) {
		for _, h := range hooks {
			if h.matches != nil && !h.matches(pod) {
				continue
			}
			if second && (!called[h.name] || !reinvoke[h.name]) {
				continue
			}
			called[h.name] = true
			out := h.mutate(pod)
			if !equality.Semantic.DeepEqual(out, pod) {
				for name := range previous {
					reinvoke[name] = true
				}
				previous = map[string]bool{}
				changedAny = true
			}
			pod = out
			if h.ifNeeded {
				previous[h.name] = true
			}
		}
	}
	round(false)
	if changedAny {
		round(true)
	}
	return pod
}

func rolechainHook(t *testing.T, native bool, sa *corev1.ServiceAccount) webhook {
	return webhook{name: "rolechain", ifNeeded: true, mutate: func(p *corev1.Pod) *corev1.Pod {
		out, _ := mutate(t, testInjector(native), p, sa)
		return out
	}}
}

// eksHook is EKS's webhook, registered as on EKS (objectSelector on its
// skip label) under a name sorting before or after rolechain's.
func eksHook(name string, ifNeeded bool, sa *corev1.ServiceAccount) webhook {
	cfg := mutation.Defaults()
	cfg.Region, cfg.RegionalSTS = "us-west-2", true
	return webhook{name: name, ifNeeded: ifNeeded,
		matches: func(p *corev1.Pod) bool {
			_, skip := p.Labels["eks.amazonaws.com/skip-pod-identity-webhook"]
			return !skip
		},
		mutate: func(p *corev1.Pod) *corev1.Pod { out, _ := mutation.Mutate(p, sa, cfg); return out },
	}
}

type order struct {
	name     string
	eksName  string // "pod-identity-webhook" sorts before "rolechain"
	ifNeeded bool
}

var orders = []order{
	{"EKS first, reinvocation Never", "pod-identity-webhook", false},
	{"EKS first, reinvocation IfNeeded", "pod-identity-webhook", true},
	{"EKS second, reinvocation Never", "zz-pod-identity-webhook", false},
	{"EKS second, reinvocation IfNeeded", "zz-pod-identity-webhook", true},
}

// envMap is a container's environment as a process sees it.
func envMap(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func find(pod *corev1.Pod, name string) corev1.Container {
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	panic("no container " + name)
}

func mountsOf(c corev1.Container) []string {
	var names []string
	for _, m := range c.VolumeMounts {
		names = append(names, m.Name)
	}
	return names
}

// Whichever of the two webhooks runs first, and whether or not EKS's is
// called again: the app containers rolechain serves end up with rolechain's
// credentials variables and none of EKS's credentials or token mounts (and
// the very same environment in every order), rolechain's sidecar holds no
// EKS web-identity token, and a container in rolechain.dev/skip-containers
// keeps everything EKS gave it.
func TestEKSAndRolechainInEitherOrder(t *testing.T) {
	for _, variant := range []struct {
		name     string
		sa       map[string]string
		pod      map[string]string
		endpoint bool
		eksVars  []string
		eksMount string
	}{
		{"IRSA, credentials file",
			map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web"}, nil, false,
			[]string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"}, "aws-iam-token"},
		{"IRSA, credentials endpoint",
			map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web"}, nil, true,
			[]string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"}, "aws-iam-token"},
		{"Pod Identity, credentials endpoint",
			map[string]string{mutation.AssociationAnnotation: "true"},
			map[string]string{annotations.WebIdentityRoleARN: "arn:aws:iam::111111111111:role/web"}, true,
			nil, "eks-pod-identity-token"},
		{"Pod Identity, credentials file",
			map[string]string{mutation.AssociationAnnotation: "true"},
			map[string]string{annotations.WebIdentityRoleARN: "arn:aws:iam::111111111111:role/web"}, false,
			[]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"}, "eks-pod-identity-token"},
	} {
		for _, native := range []bool{true, false} {
			var envs []map[string]string
			for _, o := range orders {
				t.Run(fmt.Sprintf("%s/native=%v/%s", variant.name, native, o.name), func(t *testing.T) {
					sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: variant.sa}}
					ann := map[string]string{
						annotations.RoleARN:        "arn:aws:iam::222222222222:role/target",
						annotations.SkipContainers: "debug",
					}
					maps.Copy(ann, variant.pod)
					if variant.endpoint {
						ann[annotations.CredentialsEndpoint] = "true"
					}
					pod := &corev1.Pod{
						ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: ann},
						Spec: corev1.PodSpec{ServiceAccountName: "app",
							InitContainers: []corev1.Container{{Name: "migrate", Image: "app:1"}},
							Containers:     []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "debug", Image: "debug:1"}},
						},
					}
					out := admit(pod, []webhook{rolechainHook(t, native, sa), eksHook(o.eksName, o.ifNeeded, sa)})

					for _, name := range []string{"migrate", "app"} {
						c := find(out, name)
						env := envMap(c)
						if variant.endpoint {
							if env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != inject.EndpointURL("default") {
								t.Errorf("%s: AWS_CONTAINER_CREDENTIALS_FULL_URI = %q, want rolechain's endpoint", name, env["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
							}
						} else if env["AWS_SHARED_CREDENTIALS_FILE"] != "/var/run/rolechain/credentials" {
							t.Errorf("%s: no rolechain credentials file: %v", name, env)
						}
						for _, v := range append(variant.eksVars, "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE") {
							if _, ok := env[v]; ok && (v != "AWS_CONTAINER_CREDENTIALS_FULL_URI" || !variant.endpoint) {
								t.Errorf("%s still has EKS's %s=%s", name, v, env[v])
							}
						}
						if got := mountsOf(c); slices.Contains(got, "aws-iam-token") || slices.Contains(got, "eks-pod-identity-token") {
							t.Errorf("%s still mounts EKS's token: %v", name, got)
						}
					}
					envs = append(envs, envMap(find(out, "app")))
					for _, c := range append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...) {
						if c.Name != inject.SidecarName && c.Name != inject.InitName {
							continue
						}
						if env := envMap(c); env["AWS_ROLE_ARN"] != "" || env["AWS_WEB_IDENTITY_TOKEN_FILE"] != "" || env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != "" {
							t.Errorf("rolechain's %s has EKS's credentials: %v", c.Name, env)
						}
						if slices.Contains(mountsOf(c), variant.eksMount) {
							t.Errorf("rolechain's %s mounts %s", c.Name, variant.eksMount)
						}
					}
					debug := find(out, "debug")
					if !slices.Contains(mountsOf(debug), variant.eksMount) || len(debug.Env) == 0 {
						t.Errorf("debug (in skip-containers) lost what EKS gave it: %+v", debug)
					}
					if !slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == variant.eksMount }) {
						t.Errorf("EKS's volume %s is gone although debug mounts it", variant.eksMount)
					}
				})
			}
			// The same environment in every order: what the app sees does
			// not depend on which webhook EKS's configuration name sorts
			// before.
			for i := 1; i < len(envs); i++ {
				if diff := cmp.Diff(envs[0], envs[i]); diff != "" {
					t.Errorf("%s/native=%v: the app's environment differs between %q and %q (-first +other):\n%s", variant.name, native, orders[0].name, orders[i].name, diff)
				}
			}
		}
	}
}

// Without any container that keeps EKS's token, its volume goes too, in
// every order but one: when EKS's webhook sorts after rolechain's and is
// called again (IfNeeded), its last call adds the volume back after
// rolechain's last call. No container mounts it, and the kubelet sets up
// only mounted volumes, so no token is minted for it.
func TestEKSTokenVolumeIsRemovedWhenNoContainerMountsIt(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a",
		Annotations: map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/web"}}}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{annotations.RoleARN: "arn:aws:iam::222222222222:role/target"}},
				Spec:       corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			}
			out := admit(pod, []webhook{rolechainHook(t, true, sa), eksHook(o.eksName, o.ifNeeded, sa)})
			has := slices.ContainsFunc(out.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "aws-iam-token" })
			wantVolume := o.eksName > "rolechain" && o.ifNeeded
			if has != wantVolume {
				t.Errorf("aws-iam-token in the pod: %v, want %v", has, wantVolume)
			}
			for _, c := range append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...) {
				if slices.Contains(mountsOf(c), "aws-iam-token") {
					t.Errorf("%s mounts aws-iam-token", c.Name)
				}
			}
			if out.Annotations["eks.amazonaws.com/skip-containers"] != "app,rolechain-sidecar" {
				t.Errorf("eks.amazonaws.com/skip-containers = %q", out.Annotations["eks.amazonaws.com/skip-containers"])
			}
		})
	}
}

// With rolechain.dev/source: pod-identity the sidecar, and only the
// sidecar, ends up with EKS's container-credentials variables and token in
// every order: moved from the app when EKS ran first, given by EKS when it
// runs second.
func TestPodIdentitySourceSidecarKeepsEKSCredentialsInEitherOrder(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a",
		Annotations: map[string]string{mutation.AssociationAnnotation: "true"}}}
	for _, native := range []bool{true, false} {
		for _, o := range orders {
			t.Run(fmt.Sprintf("native=%v/%s", native, o.name), func(t *testing.T) {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{
						annotations.RoleARN: "arn:aws:iam::222222222222:role/target", annotations.Source: annotations.SourcePodIdentity,
					}},
					Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
				}
				out := admit(pod, []webhook{rolechainHook(t, native, sa), eksHook(o.eksName, o.ifNeeded, sa)})
				ours := 0
				for _, c := range append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...) {
					env := envMap(c)
					if c.Name == inject.SidecarName || c.Name == inject.InitName {
						ours++
						if env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != "http://169.254.170.23/v1/credentials" ||
							env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] != "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token" ||
							!slices.Contains(mountsOf(c), "eks-pod-identity-token") {
							t.Errorf("%s lacks EKS's Pod Identity env or token: %v %v", c.Name, env, mountsOf(c))
						}
						continue
					}
					if env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] != "" && env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] != "/var/run/rolechain/endpoint-token" {
						t.Errorf("%s has EKS's Pod Identity token file", c.Name)
					}
					if slices.Contains(mountsOf(c), "eks-pod-identity-token") {
						t.Errorf("%s mounts EKS's Pod Identity token", c.Name)
					}
				}
				if want := map[bool]int{true: 1, false: 2}[native]; ours != want {
					t.Errorf("%d rolechain containers, want %d", ours, want)
				}
				if out.Annotations["eks.amazonaws.com/skip-containers"] != "app" {
					t.Errorf("eks.amazonaws.com/skip-containers = %q, want only the app (EKS must reach the sidecar)", out.Annotations["eks.amazonaws.com/skip-containers"])
				}
			})
		}
	}
}
