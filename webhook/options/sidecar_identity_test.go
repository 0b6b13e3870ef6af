package options

import (
	"strings"
	"testing"
)

func TestSessionTagKeysFlag(t *testing.T) {
	o := parse(t, "--sidecar-image=i")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := o.Defaults().SessionTagKeys.String(); got != "rolechain-namespace,rolechain-pod,rolechain-service-account" {
		t.Fatalf("default session tag keys %q: they must not be EKS Pod Identity's, which AWS sets", got)
	}
	o = parse(t, "--sidecar-image=i", "--session-tag-keys=kubernetes-namespace,kubernetes-pod,kubernetes-service-account")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := o.Defaults().SessionTagKeys.Pod; got != "kubernetes-pod" {
		t.Fatalf("--session-tag-keys not applied: pod key %q", got)
	}
	for value, want := range map[string]string{
		"a,b":                                `--session-tag-keys=a,b: must be three keys, comma-separated`,
		"aws:ns,pod,sa":                      `--session-tag-keys[0]=aws:ns: must not start with aws:`,
		"ns,pod,sa!":                         `--session-tag-keys[2]=sa!: must be 1-128 characters of letters, digits, spaces and _.:/=+-@`,
		"ns,Pod,pod":                         `--session-tag-keys[2]=pod: is key [1] to IAM, which compares tag keys case-insensitively`,
		"ns,," + "sa":                        `--session-tag-keys[1]=: must be 1-128 characters`,
		"ns,pod," + strings.Repeat("s", 129): `--session-tag-keys[2]=` + strings.Repeat("s", 129) + `: must be 1-128 characters`,
	} {
		err := parse(t, "--sidecar-image=i", "--session-tag-keys="+value).Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--session-tag-keys=%s: got %v, want %q", value, err, want)
		}
	}
}

func TestSidecarUIDAndGIDFlags(t *testing.T) {
	o := parse(t, "--sidecar-image=i")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if in := o.Injector(); in.UID != 65532 || in.GID != 65532 {
		t.Fatalf("default sidecar UID/GID %d/%d, want 65532/65532", in.UID, in.GID)
	}
	o = parse(t, "--sidecar-image=i", "--sidecar-uid=10001", "--sidecar-gid=20002")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if in := o.Injector(); in.UID != 10001 || in.GID != 20002 {
		t.Fatalf("sidecar UID/GID %d/%d, want 10001/20002", in.UID, in.GID)
	}
	// Root is refused: Pod Security restricted forbids runAsUser 0, and a
	// root sidecar's files and /proc are open to every root co-tenant. The
	// API server's own bound for an ID is 2147483647.
	for _, args := range [][]string{
		{"--sidecar-uid=0"}, {"--sidecar-gid=0"}, {"--sidecar-uid=-1"}, {"--sidecar-gid=-5"}, {"--sidecar-uid=2147483648"}, {"--sidecar-gid=4294967295"},
	} {
		err := parse(t, append([]string{"--sidecar-image=i"}, args...)...).Validate()
		if err == nil || !strings.Contains(err.Error(), args[0]+": must be ") || !strings.Contains(err.Error(), "1-2147483647") {
			t.Errorf("%s: got %v", args[0], err)
		}
	}
	if err := parse(t, "--sidecar-image=i", "--sidecar-uid=2147483647", "--sidecar-gid=1").Validate(); err != nil {
		t.Errorf("the API server's bounds are refused: %v", err)
	}
}
