// Package server is the admission side of the webhook: Handler turns one
// AdmissionReview of a pod into a patch, a denial or a pass. It owns the
// steps (decode → ServiceAccount lookup → annotations.Parse → namespace
// role policy and credentials mode → inject.Mutate → patch); the parsing, the policy and the
// mutation live in their own packages.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/internal/contract"
	"github.com/rolechain/rolechain/webhook/annotations"
	"github.com/rolechain/rolechain/webhook/credentialsmode"
	"github.com/rolechain/rolechain/webhook/eks"
	"github.com/rolechain/rolechain/webhook/inject"
	"github.com/rolechain/rolechain/webhook/metrics"
	"github.com/rolechain/rolechain/webhook/patch"
	"github.com/rolechain/rolechain/webhook/policy"
)

// DenialHandWritten is the denial metric's reason for a pod whose own
// rolechain containers or volumes differ from what its annotations render.
const DenialHandWritten = "hand-written"

// Path is where the webhook server serves the pod mutation.
const Path = "/mutate-v1-pod"

// Handler mutates pods that opted in with rolechain.dev/role-arn. It is
// an http.Handler for the webhook server (ServeHTTP) and an
// admission.Handler.
type Handler struct {
	// Cache reads ServiceAccounts from the manager's informer cache. What
	// it returns may be the cached object itself (app.CacheOptions): the
	// handler only reads it.
	Cache client.Reader
	// API reads straight from the API server. A ServiceAccount created a
	// moment before its pod may not be in the cache yet; a cache miss is
	// retried here before the pod is treated as having no IRSA role.
	API client.Reader
	// Decoder decodes the pod from the request.
	Decoder admission.Decoder
	// Defaults are the operator's annotation defaults.
	Defaults annotations.Defaults
	// Injector renders the sidecar.
	Injector inject.Injector
	// ExcludedNamespaces are never mutated, whatever their pods say. The
	// webhook configuration's namespaceSelector normally keeps them from
	// reaching the webhook at all; this is the second line.
	ExcludedNamespaces []string
	// Metrics records every admission; required.
	Metrics *metrics.Metrics
	// Now is the clock for the latency metric; nil means time.Now.
	Now func() time.Time
	// NamespacePolicy says whether a namespace without
	// rolechain.dev/allowed-role-arns is unrestricted (optional, also
	// when empty) or denies every pod (required). Namespaces are read
	// through Cache and API, like ServiceAccounts (namespace.go).
	NamespacePolicy policy.Mode
	// DefaultCredentialsMode is the cluster's credentials mode, "file"
	// (also when empty) or "endpoint", for pods that set no
	// rolechain.dev/credentials-endpoint in a namespace without
	// rolechain.dev/credentials-mode (namespace.go).
	DefaultCredentialsMode string
}

var _ admission.Handler = &Handler{}

// Handle implements admission.Handler. Only pod CREATE requests are
// mutated; anything else is allowed unchanged. The webhook server serves
// ServeHTTP, which decodes the pod with the review; Handle decodes it from
// req.Object.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	return h.serve(ctx, req, nil)
}

// serve handles one request with its pod (nil: not decoded yet) and
// records the metrics.
func (h *Handler) serve(ctx context.Context, req admission.Request, pod *corev1.Pod) admission.Response {
	now := h.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	resp, result := h.handle(ctx, req, pod)
	h.Metrics.Admissions.WithLabelValues(result).Inc()
	h.Metrics.Latency.Observe(now().Sub(start).Seconds())
	return resp
}

// handle admits one request. pod is the request's object when the caller
// decoded it already (ServeHTTP; req.Object is then empty), else nil.
func (h *Handler) handle(ctx context.Context, req admission.Request, pod *corev1.Pod) (admission.Response, string) {
	// The request's logger is built only for a line that is written:
	// WithValues costs as much as a step of the admission.
	base, err := logr.FromContext(ctx)
	if err != nil {
		base = logf.Log
	}
	log := func(l logr.Logger) logr.Logger { return l.WithValues("namespace", req.Namespace, "uid", req.UID) }
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return admission.Allowed("rolechain only mutates pods at creation"), metrics.ResultSkipped
	}
	if slices.Contains(h.ExcludedNamespaces, req.Namespace) {
		return admission.Allowed("namespace excluded from rolechain"), metrics.ResultSkipped
	}
	if pod == nil {
		pod = &corev1.Pod{}
		if err := h.Decoder.Decode(req, pod); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)), metrics.ResultErrored
		}
	}
	if !annotations.Requested(pod) {
		return admission.Allowed("pod has no " + annotations.RoleARN + " annotation"), metrics.ResultSkipped
	}
	// A pod in a create request may carry no namespace; the request has it.
	namespace := req.Namespace
	if namespace == "" {
		namespace = pod.Namespace
	}

	sa, err := h.serviceAccount(ctx, namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		log(base).Error(err, "reading the pod's ServiceAccount")
		return admission.Errored(http.StatusInternalServerError, err), metrics.ResultErrored
	}

	cfg, errs, warnings := annotations.Parse(pod, sa, h.Defaults)
	if len(errs) > 0 {
		for _, reason := range denialReasons(errs) {
			h.Metrics.Denials.WithLabelValues(reason).Inc()
		}
		if v := base.V(1); v.Enabled() {
			log(v).Info("denied", "errors", len(errs))
		}
		return admission.Denied(errs.ToAggregate().Error()).WithWarnings(warnings...), metrics.ResultDenied
	}
	verdict, warnings, resp, result, done := h.applyNamespace(ctx, namespace, pod, &cfg, warnings)
	if done {
		return resp, result
	}

	mutated, status, err := h.Injector.Mutate(pod, cfg, verdict)
	if mismatch := (*inject.MismatchError)(nil); errors.As(err, &mismatch) {
		h.Metrics.Denials.WithLabelValues(DenialHandWritten).Inc()
		return admission.Denied(mismatch.Error()).WithWarnings(warnings...), metrics.ResultDenied
	}
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), metrics.ResultErrored
	}
	for _, c := range sortedKeys(status.Kept) {
		warnings = append(warnings, fmt.Sprintf("container %q sets %s itself; rolechain kept its value%s", c, strings.Join(status.Kept[c], ", "), plural(len(status.Kept[c]))))
	}
	for _, c := range status.MountConflicts {
		warnings = append(warnings, fmt.Sprintf("container %q already mounts a volume at %s; it gets no rolechain credentials", c, contract.OutputDir))
	}
	warnings = append(warnings, eksWarnings(status.EKS)...)
	// The patch says what the mutation changed, path by path, rather than
	// diffing two serialized pods: cheaper, and it never touches fields of
	// the request's pod that this build's types do not know.
	ops, err := patch.Diff(pod, mutated)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), metrics.ResultErrored
	}
	resp = admission.Patched("", ops...).WithWarnings(warnings...)
	h.Metrics.Injections.WithLabelValues(h.namespaceLabel(ctx, namespace)).Inc()
	h.Metrics.CredentialsModes.WithLabelValues(cfg.CredentialsMode.Mode, cfg.CredentialsMode.From, credentialsmode.Lifetime(pod)).Inc()
	if v := base.V(1); v.Enabled() {
		log(v).Info("injected", "profiles", status.Profiles, "containers", status.Containers, "patches", len(resp.Patches))
	}
	return resp, metrics.ResultInjected
}

// eksWarnings tells the user what rolechain did about EKS's pod identity
// webhook (the same as the status's "eks" field says).
func eksWarnings(s *inject.EKSStatus) []string {
	if s == nil {
		return nil
	}
	var warnings []string
	for _, c := range sortedKeys(s.Removed) {
		why := "the AWS SDKs would pick them over rolechain's credentials"
		if c == inject.SidecarName || c == inject.InitName {
			why = "rolechain's sidecar does not use them"
		}
		warnings = append(warnings, fmt.Sprintf("container %q: removed %s, injected by EKS's pod identity webhook: %s", c, strings.Join(s.Removed[c], ", "), why))
	}
	if len(s.RemovedVolumes) > 0 {
		warnings = append(warnings, fmt.Sprintf("removed EKS's token volume%s %s: no container mounts it any more", plural(len(s.RemovedVolumes)), strings.Join(s.RemovedVolumes, ", ")))
	}
	if len(s.SkipContainers) > 0 {
		warnings = append(warnings, fmt.Sprintf("%s names %s, so that EKS's pod identity webhook leaves %s alone if it is called again", eks.SkipContainersAnnotation, strings.Join(s.SkipContainers, ", "), pronoun(len(s.SkipContainers))))
	}
	if s.SkipContainersUnreadable {
		warnings = append(warnings, fmt.Sprintf("%s is not a comma-separated list EKS's webhook can read; rolechain left it as it is and removes EKS's injections from the containers it serves instead", eks.SkipContainersAnnotation))
	}
	return warnings
}

func pronoun(n int) string {
	if n > 1 {
		return "them"
	}
	return "it"
}

func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}

// serviceAccount returns the pod's ServiceAccount, or nil when it does not
// exist. Only its metadata is read (the IRSA annotation), so the cache holds
// metadata only.
func (h *Handler) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	if name == "" {
		// The ServiceAccount admission plugin runs before webhooks and
		// sets this; a pod without it uses "default".
		name = "default"
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	meta := ServiceAccountMetadata()
	source := "cache"
	err := h.Cache.Get(ctx, key, meta)
	if apierrors.IsNotFound(err) {
		source = "api"
		err = h.API.Get(ctx, key, meta)
	}
	if apierrors.IsNotFound(err) {
		h.Metrics.ServiceAccountLookups.WithLabelValues("absent").Inc()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ServiceAccount %s: %w", key, err)
	}
	h.Metrics.ServiceAccountLookups.WithLabelValues(source).Inc()
	return &corev1.ServiceAccount{ObjectMeta: meta.ObjectMeta}, nil
}

// ServiceAccountMetadata returns an empty metadata-only ServiceAccount: the
// form in which the handler reads (and the cache holds) ServiceAccounts.
func ServiceAccountMetadata() *metav1.PartialObjectMetadata {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	return meta
}

// denialReasons maps each error to the annotation it names, without prefix
// and profile suffix, so the metric's label set stays bounded.
func denialReasons(errs field.ErrorList) []string {
	var reasons []string
	for _, e := range errs {
		reason := "other"
		if strings.HasPrefix(e.Field, "serviceaccounts[") {
			reason = "serviceaccount-role-arn"
		} else if key, ok := strings.CutPrefix(e.Field, "metadata.annotations["+annotations.Prefix); ok {
			base, _, _ := strings.Cut(strings.TrimSuffix(key, "]"), ".")
			if slices.Contains(annotations.Keys(), annotations.Prefix+base) {
				reason = base
			} else {
				reason = "unknown-key"
			}
		}
		reasons = append(reasons, reason)
	}
	return reasons
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
