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
//	cd test/chart && KUBECONFIG=… go test -tags cluster -run ServerSide ./...
func TestRenderedObjectsPassServerSideDryRun(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("KUBECONFIG must name the cluster to dry-run against (this test is built only with -tags cluster)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
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
				t.Logf("%s not validated: its kind is not served by this cluster (CRD missing)", key)
			}
		})
	}
}
