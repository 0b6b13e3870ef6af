package options

import "testing"

func TestDefaultCredentialsModeFlag(t *testing.T) {
	if o := parse(t, "--sidecar-image=i"); o.Validate() != nil || o.DefaultCredentialsMode != "file" {
		t.Fatalf("default --default-credentials-mode = %q, want file (today's behaviour)", o.DefaultCredentialsMode)
	}
	if o := parse(t, "--sidecar-image=i", "--default-credentials-mode=endpoint"); o.Validate() != nil || o.DefaultCredentialsMode != "endpoint" {
		t.Fatalf("--default-credentials-mode=endpoint gives %q", o.DefaultCredentialsMode)
	}
	for _, bad := range []string{"Endpoint", "", "files"} {
		err := parse(t, "--sidecar-image=i", "--default-credentials-mode="+bad).Validate()
		if want := "--default-credentials-mode=" + bad + ": must be file or endpoint"; err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
	}
}
