// Package app is the rolechain-sidecar command line: flags and environment
// into options.Config, then the refresh loops (default), a probe, or a
// one-shot retrieval. The runtime itself is sidecar/daemon; main only adds
// the signal context and exits with the code Execute returns.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/internal/version"
	"github.com/rolechain/rolechain/sidecar/daemon"
	"github.com/rolechain/rolechain/sidecar/options"
	"github.com/rolechain/rolechain/sidecar/output"
	"github.com/rolechain/rolechain/sidecar/redact"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // runtime failure, or the probe found no valid credentials
	ExitUsage   = 2 // bad flag or configuration
)

// Env is what the command reads from and writes to besides flags.
type Env struct {
	Lookup         func(string) (string, bool)
	Stdout, Stderr io.Writer
	Now            func() time.Time
	// Log receives the JSON logs; nil means Stderr.
	Log io.Writer
	// Sleep waits between --once's attempts; nil means a timer that ctx
	// cuts short.
	Sleep func(ctx context.Context, d time.Duration) error
}

// OSEnv is the process environment.
func OSEnv() Env {
	return Env{Lookup: os.LookupEnv, Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now}
}

// RunFunc runs the sidecar with a validated configuration.
type RunFunc func(ctx context.Context, cfg *options.Config, profiles []contract.Profile, log *slog.Logger) error

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

const longHelp = `rolechain-sidecar keeps AWS credentials for a chain of roles fresh.

It reads the projected service-account token, calls AssumeRoleWithWebIdentity
for the first role and sts:AssumeRole for each further one, and writes the last
role's credentials into --output-dir, refreshing them at about half their
lifetime (never later than 5 minutes before expiry), or at least every
--refresh-interval when that is set. When a refresh fails, the last good
credentials stay until shortly before they expire (a tenth of their
lifetime, at most 10 s); then they are removed, even while a refresh is
still waiting for STS, so files are always valid or absent. Credentials
that expire less than 10 s after they arrive are not written. Expirations
are on this node's clock: when STS's Date header shows its clock differs,
the difference is logged and taken out.

With --exit-when-ready it does the same (retrying failures with backoff) but
exits 0 as soon as every profile's files are written once: the one-shot init
container the webhook adds ahead of the regular sidecar when the cluster has
no native sidecars (--native-sidecars=false). --once instead prints the
credentials (or writes --output) and writes nothing to --output-dir.

Files in --output-dir (written atomically):
  credentials             shared credentials INI, a section per profile
  config                  config INI: [default] / [profile NAME] with region
  <profile>.json          {"access_key_id","secret_access_key","session_token","expiration"(Unix s)}
  <profile>.process.json  credential_process output (Version 1, RFC 3339 Expiration)
  endpoint-token          authorization token of the credentials endpoint (when on)

Every flag can also be set with ROLECHAIN_<FLAG_IN_UPPER_SNAKE_CASE>
(e.g. --role-arn → ROLECHAIN_ROLE_ARN, comma-separated); flags win. The pod's
namespace, name and service account come from ROLECHAIN_POD_NAMESPACE,
ROLECHAIN_POD_NAME and ROLECHAIN_SERVICE_ACCOUNT.

Exit codes: 0 ok (also on SIGTERM, except with --exit-when-ready before
every profile is written), 1 failure, 2 bad flag or configuration.`

// NewCommand builds the command tree. run is the default action (the
// refresh loops, or --once); tests pass their own to check configuration
// without starting anything.
func NewCommand(env Env, run RunFunc) *cobra.Command {
	cfg := options.New()
	var profiles []contract.Profile
	var log *slog.Logger

	root := &cobra.Command{
		Use:           "rolechain-sidecar",
		Short:         "Keep AWS credentials for a chain of roles fresh (or print them once)",
		Long:          longHelp,
		Version:       version.Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.ApplyEnv(cmd.Flags(), env.Lookup); err != nil {
				return usageError{err}
			}
			w := env.Log
			if w == nil {
				w = env.Stderr
			}
			// Every log line passes the scrubber: no secret the process
			// holds reaches the log, whoever put it into the message.
			log = slog.New(redact.Default.Handler(slog.NewJSONHandler(w, nil)))
			return nil
		},
		// The whole configuration is validated for the main command only:
		// the probe reads files and checks what it needs itself.
		PreRunE: func(*cobra.Command, []string) error {
			ps, err := cfg.Validate()
			if err != nil {
				return usageError{err}
			}
			profiles = ps
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), cfg, profiles, log)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	cfg.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)

	root.AddCommand(&cobra.Command{
		Use:   "probe",
		Short: "Exit 0 only if every profile's credentials exist in --output-dir and are unexpired (startup/readiness probe)",
		Long: `probe reads <output-dir>/<profile>.json of every configured profile and exits 0
only if all exist and are unexpired, else 1 with one line per profile that is not.
It reads the same flags and environment as the main command, but needs only
--output-dir and the profile names (--profile or --profiles).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			names, err := cfg.ValidateProbe()
			if err != nil {
				return usageError{err}
			}
			return output.Check(cfg.OutputDir, names, env.Now())
		},
	})
	return root
}

// Run is the default RunFunc: --once retrieves and prints (daemon.Once);
// otherwise the refresh loops run until ctx is done (daemon.Run).
func Run(env Env) RunFunc {
	return func(ctx context.Context, cfg *options.Config, profiles []contract.Profile, log *slog.Logger) error {
		if cfg.Once {
			return daemon.Once(ctx, daemon.OnceEnv{Stdout: env.Stdout, Stderr: env.Stderr, Now: env.Now, Sleep: env.Sleep}, cfg, profiles)
		}
		return daemon.Run(ctx, cfg, profiles, log)
	}
}

// Execute runs the command line and returns the exit code.
func Execute(ctx context.Context, args []string, env Env, run RunFunc) int {
	cmd := NewCommand(env, run)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		code = ExitUsage
	}
	for _, line := range strings.Split(redact.Default.String(err.Error()), "\n") {
		fmt.Fprintf(env.Stderr, "rolechain-sidecar: %s\n", line)
	}
	return code
}

// isCobraUsage recognizes cobra's own argument errors (unknown command,
// unexpected arguments), which have no type of their own.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "accepts 0 arg(s)")
}
