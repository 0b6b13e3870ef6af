//go:build cluster

package chart

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// The rendered chart passes the API server's own validation and admission
// (server-side apply, dryRun=All). Run against any cluster:
//
//	cd test/chart && KUBECONFIG=… [CHART_INSTALL_CRDS=1] go test -tags cluster -run ServerSide ./...
func TestRenderedObjectsPassServerSideDryRun(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("KUBECONFIG must name the cluster to dry-run against (this test is built only with -tags cluster)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// On a test cluster, CHART_INSTALL_CRDS=1 installs the CRDs of the
	// optional kinds first, so that every object is validated.
	withCRDs := os.Getenv("CHART_INSTALL_CRDS") == "1"
	if withCRDs {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := InstallOptionalCRDs(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for name, vals := range valueSets {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := DryRunApply(ctx, cfg, vals)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Validated) == 0 {
				t.Fatal("no object validated")
			}
			for _, key := range res.Unserved {
				if withCRDs {
					t.Errorf("%s not validated: its kind is not served although the optional CRDs were installed", key)
				} else {
					t.Logf("%s not validated: its kind is not served by this cluster (CRD missing; CHART_INSTALL_CRDS=1 installs them)", key)
				}
			}
		})
	}
}
