// Package app wires the webhook's flags to its parts: the command line,
// the controller-runtime manager, the admission handler, health checks and,
// in self-managed mode, the certificate manager.
package app

import (
	"context"
	"flag"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/internal/version"
	"github.com/rolechain/rolechain/webhook/certs"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/options"
	"github.com/rolechain/rolechain/webhook/policy"
	"github.com/rolechain/rolechain/webhook/server"
)

// NewCommand returns the rolechain-webhook command. run is called with the
// validated options; tests pass their own to check flag handling without
// starting a server.
func NewCommand(run func(context.Context, *options.Options) error) *cobra.Command {
	o := options.New()
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:          "rolechain-webhook",
		Short:        "Mutating admission webhook that injects the rolechain sidecar into annotated pods",
		Version:      version.Version,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// cobra prints a returned error (one line per bad flag) to stderr.
			if err := o.Validate(); err != nil {
				return err
			}
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
			err := run(cmd.Context(), o)
			if err != nil {
				ctrl.Log.Error(err, "rolechain-webhook stopped")
			}
			return err
		},
	}
	o.AddFlags(cmd.Flags())
	addProfilingFlag(cmd.Flags())
	logFlags := flag.NewFlagSet("log", flag.ContinueOnError)
	zapOpts.BindFlags(logFlags)
	cmd.Flags().AddGoFlagSet(logFlags)
	return cmd
}

// pprofBindAddress is where /debug/pprof is served; empty (always, unless
// built with -tags rolechain_pprof and given --pprof-bind-address) means
// nowhere.
var pprofBindAddress string

// The client-side rate limit of every client the webhook makes from its
// rest.Config: the direct (uncached) reads of the handler
// (mgr.GetAPIReader()), the self-managed certificate client, and the
// cache's list and watch. ctrl.GetConfig sets QPS to -1, which turns
// client-go's limiter off and leaves the API server's priority and
// fairness as the only bound; a flood of forged reviews naming objects the
// cache lacks would then turn into as many API reads. 20 QPS with a burst
// of 30 is kube-controller-manager's default (which controller-runtime's
// GetConfig documents as the one it used to apply): direct reads happen
// only on cache misses (an object created a moment ago) and before a
// denial, so real admissions stay far below it. Each client has its own
// limiter, so a flood of direct reads does not slow the cache's watch.
const (
	apiQPS   = 20
	apiBurst = 30
)

// restConfig returns a copy of cfg with the webhook's rate limit.
func restConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = apiQPS, apiBurst, nil
	return cfg
}

// Run serves the webhook until ctx ends.
func Run(ctx context.Context, o *options.Options) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(restConfig(cfg), ctrl.Options{
		Scheme:                 Scheme(),
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		PprofBindAddress:       pprofBindAddress,
		WebhookServer:          newWebhookServer(webhook.Options{Port: o.Port, CertDir: o.CertDir, ClientCAName: o.ClientCAFile}, DefaultServerLimits()),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := Setup(ctx, mgr, o, metrics.New(ctrlmetrics.Registry), nil); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// Scheme is the scheme the webhook's clients use.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // a programming error: the built-in types always register
	}
	return s
}

// CacheOptions are the options of the manager's cache, which holds the
// metadata of every ServiceAccount and Namespace. The handler only reads
// their annotations: a Get returns the cached object without copying it
// (copying it, managed fields and all, was most of a lookup's cost), and
// the managed fields, which nothing reads, are not kept.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform:             cache.TransformStripManagedFields(),
		DefaultUnsafeDisableDeepCopy: ptr.To(true),
	}
}

// Setup registers the admission handler, the health checks and (in
// self-managed mode) the certificate manager with mgr. In self-managed mode
// it writes the serving certificate before it returns, since the webhook
// server loads it when the manager starts. extraHosts are added to the
// self-managed certificate's names (tests reach the server by IP).
func Setup(ctx context.Context, mgr manager.Manager, o *options.Options, m *metrics.Metrics, extraHosts []string) error {
	if o.CertMode == options.CertModeSelfManaged {
		direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return fmt.Errorf("creating a client: %w", err)
		}
		cm := &certs.Manager{
			Client:            direct,
			Namespace:         o.ServiceNamespace,
			SecretName:        o.CertSecretName,
			WebhookConfigName: o.WebhookConfigName,
			Hosts:             append(certs.ServiceHosts(o.ServiceName, o.ServiceNamespace), extraHosts...),
			CertDir:           o.CertDir,
			Log:               mgr.GetLogger().WithName("certs"),
		}
		if err := cm.Ensure(ctx); err != nil {
			return fmt.Errorf("self-managed certificate: %w", err)
		}
		if err := mgr.Add(cm); err != nil {
			return err
		}
	}
	// Start the ServiceAccount metadata informer with the manager rather
	// than on the first admission, which would otherwise wait for its sync.
	if _, err := mgr.GetCache().GetInformer(ctx, server.ServiceAccountMetadata()); err != nil {
		return fmt.Errorf("watching ServiceAccounts: %w", err)
	}
	// Namespaces likewise, for their role policy (metadata only).
	if _, err := mgr.GetCache().GetInformer(ctx, server.NamespaceMetadata()); err != nil {
		return fmt.Errorf("watching Namespaces: %w", err)
	}
	h := &server.Handler{
		Cache:              mgr.GetClient(),
		API:                mgr.GetAPIReader(),
		Decoder:            admission.NewDecoder(mgr.GetScheme()),
		Defaults:           o.Defaults(),
		Injector:           o.Injector(),
		ExcludedNamespaces: o.ExcludedNamespaces,
		Metrics:            m,
		NamespacePolicy:    policy.Mode(o.NamespacePolicy),
		// Validate checked it: file or endpoint.
		DefaultCredentialsMode: o.DefaultCredentialsMode,
	}
	// The handler serves HTTP itself (see Handler.ServeHTTP); the server
	// still wraps it in controller-runtime's request metrics.
	mgr.GetWebhookServer().Register(server.Path, h)
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the TLS server listens: before that the API server's calls
	// would fail and, with failurePolicy: Fail, so would pod creation.
	return mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker())
}
