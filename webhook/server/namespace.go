package server

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/policy"
)

// DenialNamespacePolicy is the denial metric's reason for a pod its
// namespace's role policy refused.
const DenialNamespacePolicy = "namespace-policy"

// enforceNamespacePolicy checks every role of cfg's chains against the
// namespace's rolechain.dev/allowed-role-arns and returns the verdict, for
// the status. done is true when the request is answered here:
// denied, or failed because the namespace could not be read.
//
// The namespace comes from the metadata cache, with a direct read when the
// cache does not have it (a namespace created a moment before its first
// pod). A cached copy can also lag an admin's change by the watch's delay;
// before denying, the namespace is read again from the API server, so a
// policy just added or widened is honoured. Denials are rare, so the extra
// read costs nothing on the common path; a policy just narrowed may still
// admit a pod during that delay, like a pod created a moment before the
// change, which no admission check ever revisits.
func (h *Handler) enforceNamespacePolicy(ctx context.Context, namespace string, cfg annotations.Config, warnings []string) (verdict *policy.Verdict, resp admission.Response, result string, done bool) {
	v, errs, err := h.checkNamespacePolicy(ctx, namespace, cfg.Profiles)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reading the pod's namespace")
		return nil, admission.Errored(http.StatusInternalServerError, err), metrics.ResultErrored, true
	}
	if len(errs) > 0 {
		h.Metrics.Denials.WithLabelValues(DenialNamespacePolicy).Inc()
		logf.FromContext(ctx).V(1).Info("denied by the namespace's role policy", "namespace", namespace)
		return nil, admission.Denied(errs.ToAggregate().Error()).WithWarnings(warnings...), metrics.ResultDenied, true
	}
	return &v, admission.Response{}, "", false
}

func (h *Handler) checkNamespacePolicy(ctx context.Context, namespace string, profiles []contract.Profile) (policy.Verdict, field.ErrorList, error) {
	mode := h.NamespacePolicy
	if mode == "" {
		mode = policy.ModeOptional
	}
	ann, fromCache, err := h.namespaceAnnotations(ctx, namespace, false)
	if err != nil {
		return policy.Verdict{}, nil, err
	}
	verdict, errs := policy.Check(namespace, ann, mode, profiles)
	if len(errs) == 0 || !fromCache {
		return verdict, errs, nil
	}
	// Denied by the cached copy: make sure it is not just behind.
	if ann, _, err = h.namespaceAnnotations(ctx, namespace, true); err != nil {
		return policy.Verdict{}, nil, err
	}
	verdict, errs = policy.Check(namespace, ann, mode, profiles)
	return verdict, errs, nil
}

// namespaceAnnotations returns the namespace's annotations, and whether
// they came from the cache. It reads the cache first unless direct is set,
// and the API server on a cache miss. A namespace that does not exist has
// none (the API server admits no pod into it anyway).
func (h *Handler) namespaceAnnotations(ctx context.Context, name string, direct bool) (map[string]string, bool, error) {
	key := types.NamespacedName{Name: name}
	meta := NamespaceMetadata()
	var err error
	source := "cache"
	if !direct {
		err = h.Cache.Get(ctx, key, meta)
	}
	if direct || apierrors.IsNotFound(err) {
		source = "api"
		err = h.API.Get(ctx, key, meta)
	}
	if apierrors.IsNotFound(err) {
		h.Metrics.NamespaceLookups.WithLabelValues("absent").Inc()
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading Namespace %s: %w", name, err)
	}
	h.Metrics.NamespaceLookups.WithLabelValues(source).Inc()
	return meta.GetAnnotations(), source == "cache", nil
}

// NamespaceMetadata returns an empty metadata-only Namespace: the form in
// which the handler reads (and the cache holds) namespaces. Only the
// annotations are used, so RBAC needs get, list and watch on namespaces,
// and the cache holds no spec or status.
func NamespaceMetadata() *metav1.PartialObjectMetadata {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return meta
}
