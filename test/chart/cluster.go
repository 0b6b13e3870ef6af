package chart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// DryRunResult says which rendered objects the API server validated and
// which it could not, because their kind is not served (a CRD such as
// cert-manager's Certificate that the cluster does not have).
type DryRunResult struct {
	Validated []string
	Unserved  []string
}

// DryRunApply renders the chart with values into a fresh namespace of the
// cluster behind cfg and server-side applies every object with dryRun=All and
// strict field validation: the API server runs its full validation and
// admission chain (including the CEL compilation of matchConditions) but
// stores nothing. The namespace is created for real (namespaced objects
// cannot be dry-run into a namespace that does not exist) and deleted before
// DryRunApply returns.
func DryRunApply(ctx context.Context, cfg *rest.Config, values map[string]any) (DryRunResult, error) {
	var res DryRunResult
	clients, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return res, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	ns, err := clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rolechain-dryrun-"},
	}, metav1.CreateOptions{})
	if err != nil {
		return res, fmt.Errorf("creating a namespace for the dry run: %w", err)
	}
	defer func() {
		// A fresh context: the caller's may be done by now.
		_ = clients.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	}()

	r, err := RenderRelease(ReleaseName, ns.Name, values)
	if err != nil {
		return res, err
	}
	force := true
	var errs []error
	for _, o := range r.Objects {
		gvk := o.U.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			res.Unserved = append(res.Unserved, o.Key())
			continue
		}
		if err != nil {
			return res, fmt.Errorf("mapping %s: %w", o.Key(), err)
		}
		body, err := json.Marshal(o.U.Object)
		if err != nil {
			return res, err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(mapping.Resource).Namespace(o.U.GetNamespace())
		}
		_, err = ri.Patch(ctx, o.U.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
			DryRun:          []string{metav1.DryRunAll},
			FieldManager:    "rolechain-chart-test",
			Force:           &force,
			FieldValidation: metav1.FieldValidationStrict,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", o.Key(), o.Template, err))
			continue
		}
		res.Validated = append(res.Validated, o.Key())
	}
	return res, errors.Join(errs...)
}
