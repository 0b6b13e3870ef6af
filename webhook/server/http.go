package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/webhook/patch"
)

// maxRequestBytes bounds the request body, as controller-runtime's
// admission.Webhook does: a review holds at most two objects, each at most
// etcd's 1.5 MiB request limit and up to twice that as JSON, plus less than
// 1 MiB of envelope.
const maxRequestBytes = 7 << 20

var _ http.Handler = &Handler{}

// podReview is an AdmissionReview whose object is decoded straight into a
// Pod: the depth-0 Object shadows AdmissionRequest's raw one.
type podReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *podRequest `json:"request,omitempty"`
}

type podRequest struct {
	admissionv1.AdmissionRequest `json:",inline"`
	Object                       podObject `json:"object"`
}

// podObject is a Pod whose managed fields are skipped as it is decoded:
// the webhook never reads them, and decoding them (a third of a pod's
// bytes as kube-apiserver sends it, with their timestamps and raw field
// sets) cost CPU and garbage on every admission. The patch is computed
// from pods without them on both sides, so it never touches them: the
// API server's object keeps its own. The metadata goes into Metadata,
// which shadows the Pod's own at a shallower depth (encoding/json's rule,
// and v2's); pod copies it into the Pod.
type podObject struct {
	corev1.Pod `json:",inline"`
	Metadata   podMetadata `json:"metadata"`
}

// podMetadata is ObjectMeta with its managedFields shadowed the same way.
type podMetadata struct {
	metav1.ObjectMeta `json:",inline"`
	ManagedFields     skipJSON `json:"managedFields"`
}

// skipJSON decodes any JSON value into nothing.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// pod returns the decoded pod, which lives in o: one object fewer per
// admission than a Pod copied out of it. It sets the Pod's metadata from
// Metadata each time, so calling it again returns the same pod.
func (o *podObject) pod() *corev1.Pod {
	o.Pod.ObjectMeta = o.Metadata.ObjectMeta
	return &o.Pod
}

// ServeHTTP serves AdmissionReviews (v1, and v1beta1, which has the same
// shape) as controller-runtime's admission.Webhook does — body limit,
// content type, panics turned into a 500 review — but decodes the review
// and the pod in one pass over the body. The pod is most of a review, and
// decoding the review with the pod as raw bytes and then the pod from
// them cost a third of the webhook's CPU. The decoder is encoding/json/v2
// (see decodeOptions).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	review := &podReview{}
	var uid types.UID
	// The body, the patch and the response go into buffers kept between
	// admissions; nothing decoded or answered refers to them afterwards
	// (TestDecodedReviewOwnsItsMemory).
	bodyBuf, patchBuf, respBuf := getBuffer(), getBuffer(), getBuffer()
	defer putBuffer(bodyBuf)
	defer putBuffer(patchBuf)
	defer putBuffer(respBuf)
	resp := func() (resp admission.Response) {
		defer func() {
			if p := recover(); p != nil {
				logf.FromContext(r.Context()).Error(fmt.Errorf("%v", p), "panic while handling an admission review")
				resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("panic: %v [recovered]", p))
				resp.UID = uid
			}
		}()
		body, status, err := readBody(r, bodyBuf)
		if err != nil {
			return admission.Errored(status, err)
		}
		req, pod, err := decodeReview(body, review)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		uid = req.UID
		resp = h.serve(r.Context(), req, pod)
		if len(resp.Patches) > 0 {
			if err := patch.Encode(patchBuf, resp.Patches); err != nil {
				return admission.Errored(http.StatusInternalServerError, err)
			}
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType, resp.Patches = patchBuf.Bytes(), &pt, nil
		}
		// The UID, and status code 200 where none is set.
		_ = resp.Complete(req) // cannot fail without Patches
		return resp
	}()
	ar := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: &resp.AdmissionResponse}
	if ar.APIVersion != "admission.k8s.io/v1beta1" {
		ar.TypeMeta = metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}
	}
	// Encoded whole and sent with its length: one write, not a chunked
	// response in 4 KiB pieces.
	if err := json.NewEncoder(respBuf).Encode(ar); err != nil {
		logf.FromContext(r.Context()).Error(err, "encoding the admission response")
		http.Error(w, "encoding the admission response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(respBuf.Len()))
	if _, err := w.Write(respBuf.Bytes()); err != nil {
		logf.FromContext(r.Context()).Error(err, "writing the admission response")
	}
}

// buffers keep request bodies, patches and responses between admissions:
// each is a few KiB, and fresh ones were a third of an admission's
// garbage. Buffers grown past 64 KiB (a rare, large pod) are left to the
// collector rather than kept.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		b.Reset()
		buffers.Put(b)
	}
}

var errTooLarge = fmt.Errorf("request entity is too large; limit is %d bytes", maxRequestBytes)

// readBody reads the request body into buf and returns it. The buffer
// grows only with what has been read, never from Content-Length: a client
// that announces 7 MiB and sends one byte would otherwise hold 7 MiB of
// the webhook's memory for as long as it stalls (issue 21: 200 such
// connections took the webhook from 40 MiB to 1,388 MiB). buf comes from
// the pool, so a warm buffer already has room for a usual review. A body
// shorter than announced is a 400, one past maxRequestBytes a 413.
func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, int32, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, http.StatusBadRequest, errors.New("request body is empty")
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return nil, http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct)
	}
	if r.ContentLength > maxRequestBytes {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge
	}
	limited := &io.LimitedReader{R: r.Body, N: maxRequestBytes + 1}
	if _, err := buf.ReadFrom(limited); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	body := buf.Bytes()
	if int64(len(body)) > maxRequestBytes {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge
	}
	if n := r.ContentLength; n > 0 && int64(len(body)) != n {
		return nil, http.StatusBadRequest, fmt.Errorf("reading the request body: %w: %d bytes of the %d announced", io.ErrUnexpectedEOF, len(body), n)
	}
	return body, 0, nil
}

// decodeOptions make encoding/json/v2 decode a review as kube-apiserver's
// decoder (sigs.k8s.io/json, encoding/json's semantics, case-sensitive)
// does: v2 already matches names case-sensitively and ignores unknown
// ones; these two keep v1's tolerance of repeated names (the last wins)
// and of invalid UTF-8 (replaced by U+FFFD). v2 decodes the review in half
// the time with half the allocations, and decoding was the largest part
// of an admission's CPU. github.com/go-json-experiment/json is the
// module copy of the standard library's encoding/json/v2 (an experiment
// in Go 1.25 and 1.26, stable in 1.27, where the module aliases it).
// TestDecodeReviewAsTheAPIServer and FuzzDecodeReview hold the two
// decoders to the same result.
var decodeOptions = []jsonv2.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// decodeReview decodes body into review and returns the request and, for
// a pod, the pod. An object that is not a pod may not fit corev1.Pod; the
// review is then decoded again with the object left raw, and the pod is
// nil (Handle decodes it if it needs it).
func decodeReview(body []byte, review *podReview) (admission.Request, *corev1.Pod, error) {
	if err := jsonv2.Unmarshal(body, review, decodeOptions...); err == nil {
		if review.Request == nil {
			return admission.Request{}, nil, errors.New("the AdmissionReview has no request")
		}
		return admission.Request{AdmissionRequest: review.Request.AdmissionRequest}, review.Request.Object.pod(), nil
	}
	var raw admissionv1.AdmissionReview
	if err := jsonv2.Unmarshal(body, &raw, decodeOptions...); err != nil {
		return admission.Request{}, nil, fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if raw.Request == nil {
		return admission.Request{}, nil, errors.New("the AdmissionReview has no request")
	}
	review.TypeMeta = raw.TypeMeta
	return admission.Request{AdmissionRequest: *raw.Request}, nil, nil
}
