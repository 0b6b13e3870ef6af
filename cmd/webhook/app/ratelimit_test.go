package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/rolechain/rolechain/webhook/server"
)

// TestDirectAPIReadsAreRateLimited: forged reviews naming ServiceAccounts
// and namespaces the cache lacks make the handler read the API server
// directly (mgr.GetAPIReader(), the handler's API). ctrl.GetConfig turns
// client-go's rate limit off (QPS -1); the webhook's config must bound it.
// 200 reads under a 1 s deadline: a limited reader sends its burst and
// about QPS more, and refuses the rest (the limiter sees the deadline).
func TestDirectAPIReadsAreRateLimited(t *testing.T) {
	var hits atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/serviceaccounts/sa") {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer api.Close()
	// As ctrl.GetConfig returns it: QPS -1, no client-side limit.
	cfg := restConfig(&rest.Config{Host: api.URL, QPS: -1})
	// A fixed mapping: no discovery requests to take the limiter's tokens.
	mapper := func(*rest.Config, *http.Client) (meta.RESTMapper, error) {
		m := meta.NewDefaultRESTMapper(nil)
		m.Add(corev1.SchemeGroupVersion.WithKind("ServiceAccount"), meta.RESTScopeNamespace)
		return m, nil
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: Scheme(), MapperProvider: mapper, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	reader := mgr.GetAPIReader()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	const reads = 200
	var wg sync.WaitGroup
	for range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = reader.Get(ctx, types.NamespacedName{Namespace: "invented", Name: "sa"}, server.ServiceAccountMetadata())
		}()
	}
	wg.Wait()
	if max := int64(apiBurst + 2*apiQPS); hits.Load() > max {
		t.Fatalf("%d of %d direct reads reached the API server within 1 s; a limit of %d QPS, burst %d, allows at most about %d", hits.Load(), reads, int(apiQPS), apiBurst, max)
	}
	if hits.Load() == 0 {
		t.Fatal("no read reached the API server: the test proves nothing")
	}
}
