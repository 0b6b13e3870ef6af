package inject_test

import (
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/rolechain/rolechain/sidecar/options"
	"github.com/rolechain/rolechain/webhook/inject"
)

// The containers the webhook injects must be a configuration the sidecar
// accepts: every golden case, rendered in fallback mode, gives an init
// container that runs the daemon path until the files are written
// (--exit-when-ready, never --once, which writes no files) and a regular
// sidecar that keeps running. Both are parsed and validated by the
// sidecar's own options package, with the downward-API values filled in.
func TestFallbackContainersAreValidSidecarConfigurations(t *testing.T) {
	forEachCase(t, func(t *testing.T, _, _ string, pod *corev1.Pod, sa *corev1.ServiceAccount) {
		out, _ := mutate(t, testInjector(false), pod, sa)
		var initc, sidecar *corev1.Container
		for i, c := range out.Spec.InitContainers {
			if c.Name == inject.InitName {
				initc = &out.Spec.InitContainers[i]
			}
		}
		for i, c := range out.Spec.Containers {
			if c.Name == inject.SidecarName {
				sidecar = &out.Spec.Containers[i]
			}
		}
		if initc == nil || sidecar == nil {
			t.Skip("the pod carried its own sidecar; nothing injected")
		}
		if initc != &out.Spec.InitContainers[0] {
			t.Errorf("%s is not the first init container", inject.InitName)
		}
		if cfg := sidecarConfig(t, out, initc); !cfg.ExitWhenReady || cfg.Once {
			t.Errorf("init container: ExitWhenReady %v, Once %v; want it to write the files and exit", cfg.ExitWhenReady, cfg.Once)
		}
		if cfg := sidecarConfig(t, out, sidecar); cfg.ExitWhenReady || cfg.Once {
			t.Errorf("sidecar container: ExitWhenReady %v, Once %v; want it to keep refreshing", cfg.ExitWhenReady, cfg.Once)
		}
	})
}

// sidecarConfig parses and validates a container's args and env as the
// sidecar binary would.
func sidecarConfig(t *testing.T, pod *corev1.Pod, c *corev1.Container) *options.Config {
	t.Helper()
	if len(c.Command) != 1 || c.Command[0] != inject.SidecarCommand {
		t.Fatalf("%s: command %q", c.Name, c.Command)
	}
	fields := map[string]string{"metadata.name": "app-1", "metadata.namespace": pod.Namespace, "spec.serviceAccountName": "app"}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = fields[e.ValueFrom.FieldRef.FieldPath]
		default:
			t.Fatalf("%s: env %s from an unexpected source", c.Name, e.Name)
		}
	}
	cfg := options.New()
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(c.Args); err != nil {
		t.Fatalf("%s: args %q: %v", c.Name, c.Args, err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("%s: args %q: unexpected positional arguments", c.Name, c.Args)
	}
	if err := cfg.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	if _, err := cfg.Validate(); err != nil {
		t.Fatalf("%s: the sidecar rejects this configuration:\n%v", c.Name, err)
	}
	return cfg
}
