package eks_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/webhook/eks"
)

func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

var (
	irsaMount  = corev1.VolumeMount{Name: eks.IRSAVolume, MountPath: eks.IRSAMountPath, ReadOnly: true}
	podIDMount = corev1.VolumeMount{Name: eks.PodIdentityVolume, MountPath: eks.PodIdentityMountPath, ReadOnly: true}
)

func TestStripRemovesExactlyWhatEKSInjects(t *testing.T) {
	secretRef := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k", LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}
	for _, tc := range []struct {
		name        string
		in          corev1.Container
		kinds       eks.Kind
		wantEnv     []corev1.EnvVar
		wantMounts  []corev1.VolumeMount
		wantRemoved []string
	}{{
		name: "IRSA as EKS injects it, after the user's own AWS_PROFILE and AWS_REGION",
		in: corev1.Container{
			Env: env("AWS_PROFILE", "mine", "AWS_REGION", "eu-west-1", "AWS_STS_REGIONAL_ENDPOINTS", "regional",
				"AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/web", "AWS_WEB_IDENTITY_TOKEN_FILE", eks.IRSATokenFile),
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, irsaMount},
		},
		kinds:       eks.IRSA | eks.PodIdentity,
		wantEnv:     env("AWS_PROFILE", "mine", "AWS_REGION", "eu-west-1", "AWS_STS_REGIONAL_ENDPOINTS", "regional"),
		wantMounts:  []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		wantRemoved: []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "volumeMount aws-iam-token"},
	}, {
		name: "IRSA on a Windows pod: EKS writes the token path with C: and backslashes",
		in: corev1.Container{Env: env("AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/web",
			"AWS_WEB_IDENTITY_TOKEN_FILE", `C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token`)},
		kinds:       eks.IRSA,
		wantRemoved: []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"},
	}, {
		name: "a user's own web identity with a token file of their own is not EKS's",
		in: corev1.Container{
			Env:          env("AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/mine", "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/mine/token"),
			VolumeMounts: []corev1.VolumeMount{irsaMount}, // EKS adds the mount even then
		},
		kinds:       eks.IRSA,
		wantEnv:     env("AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/mine", "AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/mine/token"),
		wantRemoved: []string{"volumeMount aws-iam-token"},
	}, {
		name: "the token file from valueFrom is the user's",
		in: corev1.Container{Env: []corev1.EnvVar{
			{Name: "AWS_ROLE_ARN", Value: "arn:aws:iam::111111111111:role/web"},
			{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", ValueFrom: secretRef},
		}},
		kinds: eks.IRSA,
		wantEnv: []corev1.EnvVar{
			{Name: "AWS_ROLE_ARN", Value: "arn:aws:iam::111111111111:role/web"},
			{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", ValueFrom: secretRef},
		},
	}, {
		name:  "EKS's token file without AWS_ROLE_ARN is not the pair EKS injects",
		in:    corev1.Container{Env: env("AWS_WEB_IDENTITY_TOKEN_FILE", eks.IRSATokenFile)},
		kinds: eks.IRSA, wantEnv: env("AWS_WEB_IDENTITY_TOKEN_FILE", eks.IRSATokenFile),
	}, {
		name: "Pod Identity on IPv4 and its mount",
		in: corev1.Container{
			Env:          env("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.AgentURLIPv4, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile),
			VolumeMounts: []corev1.VolumeMount{podIDMount},
		},
		kinds:       eks.IRSA | eks.PodIdentity,
		wantRemoved: []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "volumeMount eks-pod-identity-token"},
	}, {
		name: "Pod Identity on IPv6",
		in: corev1.Container{Env: env("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.AgentURLIPv6,
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile)},
		kinds:       eks.PodIdentity,
		wantRemoved: []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"},
	}, {
		name: "a container-credentials endpoint of the user's own is kept",
		in: corev1.Container{Env: env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/creds",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile)},
		kinds: eks.PodIdentity,
		wantEnv: env("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/creds",
			"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile),
	}, {
		name: "only the kinds asked for: Pod Identity stays when only IRSA is stripped",
		in: corev1.Container{
			Env:          env("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.AgentURLIPv4, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile),
			VolumeMounts: []corev1.VolumeMount{podIDMount, irsaMount},
		},
		kinds:       eks.IRSA,
		wantEnv:     env("AWS_CONTAINER_CREDENTIALS_FULL_URI", eks.AgentURLIPv4, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", eks.PodIdentityTokenFile),
		wantMounts:  []corev1.VolumeMount{podIDMount},
		wantRemoved: []string{"volumeMount aws-iam-token"},
	}, {
		name: "a writable mount of aws-iam-token, or one elsewhere, is the user's",
		in: corev1.Container{VolumeMounts: []corev1.VolumeMount{
			{Name: eks.IRSAVolume, MountPath: eks.IRSAMountPath},
			{Name: eks.IRSAVolume, MountPath: "/elsewhere", ReadOnly: true},
		}},
		kinds: eks.IRSA,
		wantMounts: []corev1.VolumeMount{
			{Name: eks.IRSAVolume, MountPath: eks.IRSAMountPath},
			{Name: eks.IRSAVolume, MountPath: "/elsewhere", ReadOnly: true},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.in.DeepCopy()
			removed := eks.Strip(c, tc.kinds)
			if diff := cmp.Diff(tc.wantRemoved, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEnv, c.Env); diff != "" {
				t.Errorf("env left (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantMounts, c.VolumeMounts); diff != "" {
				t.Errorf("mounts left (-want +got):\n%s", diff)
			}
			if again := eks.Strip(c, tc.kinds); again != nil {
				t.Errorf("a second Strip removed %v", again)
			}
		})
	}
}

func TestIsTokenVolumeKnowsEKSVolumesByNameAndShape(t *testing.T) {
	token := func(name, aud, path string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: aud, Path: path}}},
		}}}
	}
	for _, tc := range []struct {
		v    corev1.Volume
		want bool
	}{
		{token("aws-iam-token", "sts.amazonaws.com", "token"), true},
		{token("aws-iam-token", "custom-audience", "token"), true}, // eks.amazonaws.com/audience on the ServiceAccount
		{token("eks-pod-identity-token", "pods.eks.amazonaws.com", "eks-pod-identity-token"), true},
		{token("eks-pod-identity-token", "sts.amazonaws.com", "eks-pod-identity-token"), false},
		{token("aws-iam-token", "sts.amazonaws.com", "other"), false},
		{token("mine", "sts.amazonaws.com", "token"), false},
		{corev1.Volume{Name: "aws-iam-token", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, false},
	} {
		if got := eks.IsTokenVolume(tc.v); got != tc.want {
			t.Errorf("IsTokenVolume(%s %+v) = %v, want %v", tc.v.Name, tc.v.Projected, got, tc.want)
		}
	}
}

func TestAddSkipContainersAppendsOnlyMissingNamesAndKeepsTheUsersOwn(t *testing.T) {
	for _, tc := range []struct {
		value   string
		add     []string
		want    string
		wantErr bool
	}{
		{"", []string{"app", "rolechain-sidecar"}, "app,rolechain-sidecar", false},
		{"debug", []string{"app"}, "debug,app", false},
		{"app,debug", []string{"app", "rolechain-sidecar"}, "app,debug,rolechain-sidecar", false},
		{"app", []string{"app"}, "app", false},
		{`a"b`, []string{"app"}, `a"b`, true}, // EKS cannot read it either
	} {
		got, err := eks.AddSkipContainers(tc.value, tc.add)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("AddSkipContainers(%q, %v) = %q, %v; want %q, error %v", tc.value, tc.add, got, err, tc.want, tc.wantErr)
		}
		if err == nil {
			names, err := eks.SkipContainers(got)
			if err != nil {
				t.Errorf("EKS could not read %q: %v", got, err)
			}
			for _, n := range tc.add {
				if !contains(names, n) {
					t.Errorf("%q does not make EKS skip %s", got, n)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
