package options

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	o := New()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDefaultsNeedOnlyTheSidecarImage(t *testing.T) {
	if err := parse(t).Validate(); err == nil || !strings.Contains(err.Error(), "--sidecar-image") {
		t.Fatalf("want --sidecar-image required, got %v", err)
	}
	o := parse(t, "--sidecar-image=img:1")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	d := o.Defaults()
	if d.Audience != "sts.amazonaws.com" || d.TokenExpirationSeconds != 3600 || d.Region != "" {
		t.Fatalf("defaults = %+v", d)
	}
	if !d.MemoryLimit.Equal(resource.MustParse("64Mi")) || !d.CPURequest.Equal(resource.MustParse("10m")) {
		t.Fatalf("resource defaults = %+v", d)
	}
	if in := o.Injector(); !in.NativeSidecars || in.PullPolicy != corev1.PullIfNotPresent || in.Image != "img:1" {
		t.Fatalf("injector = %+v", in)
	}
}

func TestFlagsBindOntoOptions(t *testing.T) {
	o := parse(t, "--sidecar-image=img:2", "--port=10443", "--native-sidecars=false", "--default-region=eu-west-1",
		"--default-token-expiration=2h", "--excluded-namespaces=a,b", "--cert-mode=self-managed", "--sidecar-memory-limit=")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Port != 10443 || o.NativeSidecars || o.DefaultRegion != "eu-west-1" || o.DefaultTokenExpiration != 2*time.Hour ||
		strings.Join(o.ExcludedNamespaces, ",") != "a,b" || o.CertMode != CertModeSelfManaged {
		t.Fatalf("options = %+v", o)
	}
	if d := o.Defaults(); !d.MemoryLimit.IsZero() {
		t.Fatal("an empty --sidecar-memory-limit must leave the limit unset")
	}
}

func TestEveryBadFlagIsNamedAtOnce(t *testing.T) {
	o := parse(t, "--port=0", "--sidecar-image-pull-policy=Sometimes", "--default-region=moon",
		"--default-token-expiration=5m", "--sidecar-cpu-request=lots", "--sidecar-memory-request=1Gi",
		"--cert-mode=vault")
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, flag := range []string{"--port=0", "--sidecar-image=", "--sidecar-image-pull-policy=Sometimes", "--default-region=moon",
		"--default-token-expiration=5m0s", "--sidecar-cpu-request=lots", "--sidecar-memory-request=1Gi", "--cert-mode=vault"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s:\n%v", flag, err)
		}
	}
}

func TestSelfManagedModeNeedsItsNames(t *testing.T) {
	o := parse(t, "--sidecar-image=i", "--cert-mode=self-managed", "--cert-secret-name=", "--webhook-config-name=")
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--cert-secret-name") || !strings.Contains(err.Error(), "--webhook-config-name") {
		t.Fatalf("got %v", err)
	}
}
