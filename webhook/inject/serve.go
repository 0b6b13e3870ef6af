package inject

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/eks"
)

// serveContainers gives every selected container the credentials mount
// and env, after taking out what EKS's webhook injected there: its
// web-identity variables win over the credentials file in Go v2's and
// botocore's default chains, and over the endpoint in every SDK's, and its
// container-credentials variables have the very names of rolechain's
// endpoint mode. What a container sets on its own (any other value) stays.
// It records the served containers, kept variables and mount conflicts in
// status, and returns rolechain's own containers and what was stripped
// from each container.
func (in Injector) serveContainers(spec *corev1.PodSpec, cfg annotations.Config, status *Status) (ours []string, removed map[string][]string) {
	podIdentity := cfg.Source == annotations.SourcePodIdentity
	appEnv := in.appEnv(cfg)
	removed = map[string][]string{}
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
	return ours, removed
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
