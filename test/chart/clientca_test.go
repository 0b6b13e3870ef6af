package chart

import (
	"fmt"
	"path"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// clientCAValues turns webhook.clientCA on with a ConfigMap or a Secret.
func clientCAValues(kind, name, key string) map[string]any {
	return map[string]any{"webhook": map[string]any{"clientCA": map[string]any{"kind": kind, "name": name, "key": key}}}
}

// webhook.clientCA mounts the CA bundle read-only into the webhook
// container and points --client-ca-file at the file that holds the given
// key, for a ConfigMap and for a Secret, whichever way the serving
// certificate is provided. Without it the chart sets no --client-ca-file
// (the webhook then accepts any client) and mounts nothing more.
func TestClientCAIsMountedReadOnlyAndTheFlagNamesItsKey(t *testing.T) {
	for _, c := range []struct {
		kind, name, key string
		certs           map[string]any
	}{
		{"ConfigMap", "apiserver-client-ca", "ca.crt", nil},
		{"Secret", "apiserver-client-ca", "bundle.pem", nil},
		{"ConfigMap", "ca", "client-ca_2.pem", map[string]any{"mode": "cert-manager"}},
	} {
		t.Run(fmt.Sprintf("%s %s/%s certs=%v", c.kind, c.name, c.key, c.certs), func(t *testing.T) {
			v := clientCAValues(c.kind, c.name, c.key)
			if c.certs != nil {
				v["certs"] = c.certs
			}
			d := deployment(t, mustRender(t, v))
			flag, ok := args(t, d)["--client-ca-file"]
			if !ok {
				t.Fatal("no --client-ca-file")
			}
			if !path.IsAbs(flag) {
				t.Fatalf("--client-ca-file=%s is relative: the webhook would read it from --cert-dir", flag)
			}
			spec := d.Spec.Template.Spec
			var mount *corev1.VolumeMount
			for i, m := range spec.Containers[0].VolumeMounts {
				if path.Dir(flag) == path.Clean(m.MountPath) {
					mount = &spec.Containers[0].VolumeMounts[i]
				}
			}
			if mount == nil {
				t.Fatalf("no volume is mounted at %s (the directory of --client-ca-file)", path.Dir(flag))
			}
			if !mount.ReadOnly {
				t.Errorf("the client CA is mounted read-write")
			}
			var vol *corev1.Volume
			for i := range spec.Volumes {
				if spec.Volumes[i].Name == mount.Name {
					vol = &spec.Volumes[i]
				}
			}
			if vol == nil {
				t.Fatalf("volume %s is mounted but not defined", mount.Name)
			}
			var items []corev1.KeyToPath
			var mode *int32
			switch c.kind {
			case "ConfigMap":
				if vol.ConfigMap == nil || vol.ConfigMap.Name != c.name {
					t.Fatalf("volume %s is not ConfigMap %s: %+v", vol.Name, c.name, vol.VolumeSource)
				}
				if vol.ConfigMap.Optional != nil && *vol.ConfigMap.Optional {
					t.Error("the ConfigMap is optional: a missing CA would start a webhook that fails at start instead of a pod that waits for it")
				}
				items, mode = vol.ConfigMap.Items, vol.ConfigMap.DefaultMode
			case "Secret":
				if vol.Secret == nil || vol.Secret.SecretName != c.name {
					t.Fatalf("volume %s is not Secret %s: %+v", vol.Name, c.name, vol.VolumeSource)
				}
				if vol.Secret.Optional != nil && *vol.Secret.Optional {
					t.Error("the Secret is optional")
				}
				items, mode = vol.Secret.Items, vol.Secret.DefaultMode
			}
			// Only the one key is projected, to the file the flag names.
			if len(items) != 1 || items[0].Key != c.key || path.Join(mount.MountPath, items[0].Path) != flag {
				t.Errorf("items %+v at %s: want only key %s at %s", items, mount.MountPath, c.key, flag)
			}
			// Readable by the webhook's user through fsGroup, by no one else.
			if mode == nil || *mode&0o007 != 0 || *mode&0o040 == 0 {
				t.Errorf("defaultMode %v: want group-readable, nothing for others", mode)
			}
			if strings.HasPrefix(flag, path.Clean(args(t, d)["--cert-dir"])+"/") {
				t.Errorf("--client-ca-file=%s is inside --cert-dir", flag)
			}
		})
	}

	d := deployment(t, mustRender(t, nil))
	if f, ok := args(t, d)["--client-ca-file"]; ok {
		t.Errorf("defaults set --client-ca-file=%s", f)
	}
	if n := len(d.Spec.Template.Spec.Volumes); n != 1 {
		t.Errorf("defaults mount %d volumes, want only the serving certificate", n)
	}
}

// A bad webhook.clientCA fails `helm install` / `helm template --set`,
// naming the key, instead of rendering a pod that cannot start.
func TestClientCABadValuesAreRefusedAtInstall(t *testing.T) {
	for _, c := range []struct {
		v    map[string]any
		want string // in the error
	}{
		{clientCAValues("Configmap", "ca", "ca.crt"), "/webhook/clientCA/kind"},
		{clientCAValues("", "ca", "ca.crt"), "/webhook/clientCA/kind"},
		{clientCAValues("ConfigMap", "Bad_Name", "ca.crt"), "/webhook/clientCA/name"},
		{clientCAValues("ConfigMap", strings.Repeat("a", 254), "ca.crt"), "/webhook/clientCA/name"},
		{clientCAValues("ConfigMap", "ca", ""), "/webhook/clientCA/key"},
		{clientCAValues("ConfigMap", "ca", "../ca.crt"), "/webhook/clientCA/key"},
		{clientCAValues("ConfigMap", "ca", "a/b"), "/webhook/clientCA/key"},
		{clientCAValues("ConfigMap", "ca", ".."), "/webhook/clientCA/key"},
		{clientCAValues("ConfigMap", "ca", "ca crt"), "/webhook/clientCA/key"},
		{map[string]any{"webhook": map[string]any{"clientCA": map[string]any{"name": "ca", "configMap": "ca"}}}, "configMap"},
		// The serving certificate's directory must not hold or be held by
		// the CA's mount: the API server refuses overlapping mounts, or the
		// webhook would read one for the other.
		{map[string]any{"webhook": map[string]any{"certDir": "/etc/rolechain/client-ca", "clientCA": map[string]any{"name": "ca"}}}, "webhook.certDir="},
		{map[string]any{"webhook": map[string]any{"certDir": "/etc/rolechain", "clientCA": map[string]any{"name": "ca"}}}, "webhook.certDir="},
		{map[string]any{"webhook": map[string]any{"certDir": "/etc/rolechain/client-ca/x", "clientCA": map[string]any{"name": "ca"}}}, "webhook.certDir="},
		{map[string]any{"webhook": map[string]any{"certDir": "/", "clientCA": map[string]any{"name": "ca"}}}, "webhook.certDir="},
	} {
		t.Run(fmt.Sprint(c.v), func(t *testing.T) {
			_, err := Render(c.v)
			if err == nil {
				t.Fatal("rendered")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %s: %v", c.want, err)
			}
		})
	}
	// The defaults of kind and key apply when only the name is given.
	d := deployment(t, mustRender(t, map[string]any{"webhook": map[string]any{"clientCA": map[string]any{"name": "ca"}}}))
	if d.Spec.Template.Spec.Volumes[len(d.Spec.Template.Spec.Volumes)-1].ConfigMap == nil {
		t.Error("kind does not default to ConfigMap")
	}
	// A certDir that only shares a prefix with the mount is fine.
	mustRender(t, map[string]any{"webhook": map[string]any{"certDir": "/etc/rolechain-certs", "clientCA": map[string]any{"name": "ca"}}})
}
