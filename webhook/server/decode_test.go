package server

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
)

// apiServerDecode decodes body as kube-apiserver's own decoder does
// (sigs.k8s.io/json: encoding/json, case-sensitive): the oracle of the
// webhook's encoding/json/v2 decoding.
func apiServerDecode(body []byte) (*podReview, error) {
	review := &podReview{}
	return review, kjson.UnmarshalCaseSensitivePreserveInts(body, review)
}

// checkDecodesAsTheAPIServer fails unless decodeReview and the API
// server's decoder agree on body: both refuse it, or both decode the same
// review and pod.
func checkDecodesAsTheAPIServer(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := apiServerDecode(body)
	got := &podReview{}
	req, pod, err := decodeReview(body, got)
	if wantErr != nil {
		// The API server's decoder refuses it as a pod review; the
		// webhook's answer is then its own (a raw review or an error),
		// but it must not be a pod.
		if err == nil && pod != nil {
			t.Fatalf("decoded a pod from a review sigs.k8s.io/json refuses (%v): %s", wantErr, body)
		}
		return
	}
	if want.Request == nil {
		if err == nil {
			t.Fatalf("no error for a review without a request: %s", body)
		}
		return
	}
	if err != nil || pod == nil {
		t.Fatalf("sigs.k8s.io/json decodes %s\nbut decodeReview: pod %v, %v", body, pod, err)
	}
	wantPod := want.Request.Object.pod()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoders disagree on %s\nv2:               %+v\nsigs.k8s.io/json: %+v", body, got.Request, want.Request)
	}
	if !reflect.DeepEqual(req.AdmissionRequest, want.Request.AdmissionRequest) || !reflect.DeepEqual(pod, wantPod) {
		t.Fatalf("decodeReview returned other than it decoded: %+v", req)
	}
	if again := got.Request.Object.pod(); again != pod || !reflect.DeepEqual(again, wantPod) {
		t.Fatalf("a second pod() changed the pod: %+v", again.ObjectMeta)
	}
}

// TestDecodeReviewAsTheAPIServer holds the encoding/json/v2 decoding to
// kube-apiserver's decoder on the review kube-apiserver sent for a
// Deployment's pod, on random pods with every field filled somewhere
// (also as EKS's webhook leaves them), and on JSON where the two
// libraries' defaults differ.
func TestDecodeReviewAsTheAPIServer(t *testing.T) {
	captured, err := os.ReadFile("testdata/deployment-pod.review.json")
	if err != nil {
		t.Fatal(err)
	}
	checkDecodesAsTheAPIServer(t, captured)
	if r, _ := apiServerDecode(captured); r.Request == nil || len(r.Request.Object.Spec.Containers) == 0 {
		t.Fatal("the captured review decodes to no pod: the comparison proves nothing")
	}

	eksSA := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Annotations: map[string]string{"eks.amazonaws.com/role-arn": irsa}}}
	for seed := range int64(300) {
		pod := randomPod(seed)
		if seed%3 == 0 {
			pod, _ = mutation.Mutate(pod, eksSA, mutation.Defaults())
		}
		podJSON, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodesAsTheAPIServer(t, reviewOf(t, podJSON))
	}

	for name, body := range map[string]string{
		// v1 keeps the last of repeated names, v2 refuses them by default.
		"repeated names": `{"apiVersion":"admission.k8s.io/v1","request":{"uid":"a","uid":"b","object":{"metadata":{"name":"x","name":"y"},"spec":{"containers":[{"name":"c"}],"containers":[{"name":"d"}]}}}}`,
		// v1 replaces invalid UTF-8 with U+FFFD, v2 refuses it by default.
		"invalid UTF-8":  "{\"request\":{\"uid\":\"a\",\"object\":{\"metadata\":{\"annotations\":{\"k\":\"\xff\xfe\"}}}}}",
		"lone surrogate": `{"request":{"uid":"a","object":{"metadata":{"annotations":{"k":"\ud800"}}}}}`,
		// Both match names case-sensitively, as kube-apiserver does.
		"other case":     `{"request":{"UID":"a","object":{"Metadata":{"name":"x"},"spec":{"Containers":[{"name":"c"}]}}}}`,
		"unknown names":  `{"request":{"uid":"a","extra":1,"object":{"spec":{"notAField":{"a":[1]}}}}}`,
		"null object":    `{"request":{"uid":"a","object":null}}`,
		"managed fields": `{"request":{"uid":"a","object":{"metadata":{"name":"x","managedFields":[{"manager":"m","fieldsV1":{"f:a":{}}}]}}}}`,
		"no request":     `{"apiVersion":"admission.k8s.io/v1"}`,
		"not a pod":      `{"request":{"uid":"a","object":{"spec":"a string"}}}`,
		"trailing data":  `{"request":{"uid":"a"}} {}`,
		// Integers written as a float or an exponent: both refuse them.
		"exponent for an integer": `{"request":{"uid":"a","object":{"spec":{"terminationGracePeriodSeconds":1e2}}}}`,
		"fraction for a port":     `{"request":{"uid":"a","object":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80.5}]}]}}}}`,
		// null and empty lists and maps stay as they are (nil against
		// empty matters to the patch).
		"null and empty":   `{"request":{"uid":"a","object":{"metadata":{"labels":null,"annotations":{}},"spec":{"containers":null,"volumes":[]}}}}`,
		"repeated map key": `{"request":{"uid":"a","object":{"spec":{"nodeSelector":{"a":"b","a":"c"}}}}}`,
		"number for name":  `{"request":{"uid":"a","object":{"metadata":{"name":1}}}}`,
	} {
		t.Run(name, func(t *testing.T) { checkDecodesAsTheAPIServer(t, []byte(body)) })
	}
}

// FuzzDecodeReview: on any input, the webhook's decoding of a pod review
// agrees with kube-apiserver's decoder.
func FuzzDecodeReview(f *testing.F) {
	captured, err := os.ReadFile("testdata/deployment-pod.review.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(captured)
	for seed := range int64(8) {
		podJSON, err := json.Marshal(randomPod(seed))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(reviewOf(f, podJSON))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodesAsTheAPIServer(t, body) })
}

// TestDecodedReviewOwnsItsMemory: the server reads each body into a buffer
// it reuses for the next admission, so nothing decodeReview returns may
// point into the body. Overwriting the body after decoding must leave the
// decoded review, pod and raw objects as they were.
func TestDecodedReviewOwnsItsMemory(t *testing.T) {
	captured, err := os.ReadFile("testdata/deployment-pod.review.json")
	if err != nil {
		t.Fatal(err)
	}
	podJSON, err := json.Marshal(randomPod(1))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"captured pod": captured,
		"random pod":   reviewOf(t, podJSON),
		// Decoded with the object left raw (the fallback for an object
		// that does not fit a Pod), and with options and an old object.
		"raw object": []byte(`{"request":{"uid":"a","object":{"spec":"a string"},"oldObject":{"a":1},"options":{"kind":"CreateOptions"}}}`),
	} {
		t.Run(name, func(t *testing.T) {
			want := &podReview{}
			wantReq, wantPod, wantErr := decodeReview(bytes.Clone(body), want)
			got := &podReview{}
			scribbled := bytes.Clone(body)
			req, pod, err := decodeReview(scribbled, got)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("errors %v and %v", err, wantErr)
			}
			for i := range scribbled {
				scribbled[i] = 'x'
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(req, wantReq) || !reflect.DeepEqual(pod, wantPod) {
				t.Fatalf("overwriting the body changed what was decoded from it:\n%+v\nwant %+v", req, wantReq)
			}
			if len(req.Object.Raw)+len(req.OldObject.Raw)+len(req.Options.Raw) == 0 && pod == nil {
				t.Fatal("nothing decoded: the check proves nothing")
			}
		})
	}
}
