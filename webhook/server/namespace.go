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

	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/credentialsmode"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/policy"
)

// Denial metric reasons for a pod its namespace refused.
const (
	// DenialNamespacePolicy: the namespace's role policy
	// (rolechain.dev/allowed-role-arns) refused one of its roles.
	DenialNamespacePolicy = "namespace-policy"
	// DenialNamespaceCredentialsMode: the namespace's
	// rolechain.dev/credentials-mode is malformed, and the pod left its
	// mode to it.
	DenialNamespaceCredentialsMode = "namespace-credentials-mode"
)

// applyNamespace judges the pod by its namespace's annotations, read once
// for both: every role of cfg's chains against
// rolechain.dev/allowed-role-arns (the verdict, for the status), and the
// credentials mode, pod > namespace > cluster (package credentialsmode),
// which it sets in cfg, adding its warnings. done is true when the
// request is answered here: denied, or failed because the namespace
// could not be read.
//
// The namespace comes from the metadata cache, with a direct read when the
// cache does not have it (a namespace created a moment before its first
// pod). A cached copy can also lag an admin's change by the watch's delay;
// before denying, the namespace is read again from the API server, so a
// policy just added or widened, or a mode just fixed, is honoured. Denials
// are rare, so the extra read costs nothing on the common path; a policy
// just narrowed may still admit a pod during that delay, like a pod
// created a moment before the change, which no admission check ever
// revisits.
func (h *Handler) applyNamespace(ctx context.Context, namespace string, pod *corev1.Pod, cfg *annotations.Config, warnings []string) (verdict *policy.Verdict, w []string, resp admission.Response, result string, done bool) {
	j, err := h.judgeNamespace(ctx, namespace, pod, *cfg)
	if err != nil {
		logf.FromContext(ctx).Error(err, "reading the pod's namespace")
		return nil, warnings, admission.Errored(http.StatusInternalServerError, err), metrics.ResultErrored, true
	}
	if len(j.policyErrs) > 0 || j.modeErr != nil {
		errs := j.policyErrs
		if len(j.policyErrs) > 0 {
			h.Metrics.Denials.WithLabelValues(DenialNamespacePolicy).Inc()
		}
		if j.modeErr != nil {
			h.Metrics.Denials.WithLabelValues(DenialNamespaceCredentialsMode).Inc()
			errs = append(errs, j.modeErr)
		}
		logf.FromContext(ctx).V(1).Info("denied by the namespace's annotations", "namespace", namespace)
		return nil, warnings, admission.Denied(errs.ToAggregate().Error()).WithWarnings(warnings...), metrics.ResultDenied, true
	}
	credentialsmode.Apply(cfg, j.mode)
	return &j.verdict, append(warnings, credentialsmode.Warnings(pod, j.mode)...), admission.Response{}, "", false
}

// namespaceJudgement is what the namespace's annotations say of one pod.
type namespaceJudgement struct {
	verdict    policy.Verdict
	policyErrs field.ErrorList
	mode       annotations.CredentialsModeChoice
	modeErr    *field.Error
}

func (h *Handler) judgeNamespace(ctx context.Context, namespace string, pod *corev1.Pod, cfg annotations.Config) (namespaceJudgement, error) {
	policyMode := h.NamespacePolicy
	if policyMode == "" {
		policyMode = policy.ModeOptional
	}
	judge := func(ann map[string]string) namespaceJudgement {
		var j namespaceJudgement
		j.verdict, j.policyErrs = policy.Check(namespace, ann, policyMode, cfg.Profiles)
		j.mode, j.modeErr = credentialsmode.Resolve(pod, cfg, namespace, ann, h.DefaultCredentialsMode)
		return j
	}
	ann, fromCache, err := h.namespaceAnnotations(ctx, namespace, false)
	if err != nil {
		return namespaceJudgement{}, err
	}
	j := judge(ann)
	if (len(j.policyErrs) == 0 && j.modeErr == nil) || !fromCache {
		return j, nil
	}
	// Denied by the cached copy: make sure it is not just behind.
	if ann, _, err = h.namespaceAnnotations(ctx, namespace, true); err != nil {
		return namespaceJudgement{}, err
	}
	return judge(ann), nil
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
