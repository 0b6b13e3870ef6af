package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rolechain/rolechain/webhook/options"
)

func TestCommandPassesValidatedFlagsToRun(t *testing.T) {
	var got *options.Options
	cmd := NewCommand(func(_ context.Context, o *options.Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--sidecar-image=img:1", "--default-region=eu-west-1", "--zap-log-level=debug"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.SidecarImage != "img:1" || got.DefaultRegion != "eu-west-1" {
		t.Fatalf("run got %+v", got)
	}
}

func TestCommandRejectsBadFlagsWithoutRunning(t *testing.T) {
	ran := false
	cmd := NewCommand(func(context.Context, *options.Options) error { ran = true; return nil })
	var stderr bytes.Buffer
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"--sidecar-image=img:1", "--cert-mode=magic"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || ran {
		t.Fatalf("err=%v ran=%v", err, ran)
	}
	if !strings.Contains(stderr.String(), "--cert-mode=magic") {
		t.Fatalf("stderr = %q", stderr.String())
	}
}
