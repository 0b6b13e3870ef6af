package server

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/rolechain/rolechain/webhook/metrics"
)

// namespaceLabel is the injections metric's label for namespace: the name
// when the namespace cache holds it, else metrics.OtherNamespace, so the
// series are bounded by the cluster's namespaces rather than by what
// forged reviews invent. It reads the cache only: no API read per label.
func (h *Handler) namespaceLabel(ctx context.Context, namespace string) string {
	if err := h.Cache.Get(ctx, types.NamespacedName{Name: namespace}, NamespaceMetadata()); err != nil {
		return metrics.OtherNamespace
	}
	return namespace
}
