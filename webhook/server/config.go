package server

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/webhook/annotations"
)

// WebhookName is the name of the pod webhook inside the configuration; the
// API server quotes it in denials ("admission webhook \"pod.rolechain.dev\"
// denied the request: …"). The chart names it the same (rolechain.webhookName),
// so the messages the integration tests check are those users read.
const WebhookName = "pod.rolechain.dev"

// MatchCondition is the CEL expression that keeps the API server from
// calling the webhook for pods that ask nothing of rolechain. With it,
// failurePolicy: Fail cannot block unrelated pods when the webhook is down.
// It selects what annotations.Requested does: any rolechain.dev/ key other
// than the status, so that a pod with a misspelt key (rolechain.dev/Role-Arn)
// or only a named profile's keys is denied with the key named instead of
// being admitted unchanged. For a pod without annotations it costs one
// has(); with some, one prefix test per key.
const MatchCondition = `has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('` + annotations.Prefix + `') && k != '` + annotations.Status + `')`

// WebhookConfiguration returns the MutatingWebhookConfiguration the webhook
// expects: pods on CREATE, only those that carry the opt-in annotation,
// outside excludedNamespaces, re-invoked when a later webhook changes the
// pod, failing closed. The chart renders the same object; the integration
// test installs this one.
func WebhookConfiguration(name string, client admissionregistrationv1.WebhookClientConfig, excludedNamespaces []string) *admissionregistrationv1.MutatingWebhookConfiguration {
	var selector *metav1.LabelSelector
	if len(excludedNamespaces) > 0 {
		selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: excludedNamespaces,
		}}}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         WebhookName,
			ClientConfig: client,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			MatchConditions:         []admissionregistrationv1.MatchCondition{{Name: "opted-in", Expression: MatchCondition}},
			NamespaceSelector:       selector,
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](10),
		}},
	}
}
