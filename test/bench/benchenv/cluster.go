package benchenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/rolechain/rolechain/cmd/webhook/app"
)

// Cluster is envtest's kube-apiserver and etcd, started for one benchmark.
type Cluster struct {
	Env *envtest.Environment
	// Client and Config are the API server's admin, with the webhook's scheme.
	Client client.Client
	Config *rest.Config
	// Kubeconfig is a file with a system:masters user, for the webhook
	// binary under test.
	Kubeconfig string
	// Version is the API server's git version ("" if discovery failed).
	Version string
}

// StartCluster starts kube-apiserver and etcd from $KUBEBUILDER_ASSETS,
// writes the kubeconfig into workDir, and creates objects in order. It
// stops what it started when any step fails.
func StartCluster(ctx context.Context, workDir string, objects ...client.Object) (*Cluster, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: point it at a directory with kube-apiserver and etcd (make k8s-binaries)")
	}
	env := &envtest.Environment{}
	// envtest turns the ServiceAccount admission plugin off (nothing
	// creates "default" ServiceAccounts there); a real API server runs it,
	// and the token volume and mounts it adds are part of every pod a
	// webhook sees. The benchmarks create the ServiceAccounts their pods use.
	env.ControlPlane.GetAPIServer().Configure().Set("disable-admission-plugins", "")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Env: env, Config: cfg}
	ok := false
	defer func() {
		if !ok {
			c.Stop()
		}
	}()
	if c.Client, err = client.New(cfg, client.Options{Scheme: app.Scheme()}); err != nil {
		return nil, err
	}
	if dc, err := discovery.NewDiscoveryClientForConfig(cfg); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			c.Version = v.GitVersion
		}
	}
	user, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(workDir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	for _, obj := range objects {
		if err := c.Client.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	ok = true
	return c, nil
}

// Stop stops kube-apiserver and etcd, reporting a failure on stderr (a
// benchmark's result does not depend on it).
func (c *Cluster) Stop() {
	if err := c.Env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
}
