package patch_test

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"

	jsonpatch4 "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	"github.com/rolechain/rolechain/webhook/patch"
)

// words are the strings random pods are made of: few, so that names
// collide (duplicate keys in lists) and maps share keys, and with the two
// characters JSON Pointer escapes.
var words = []string{"", "a", "b", "app", "AWS_ROLE_ARN", "aws-iam-token", "x/y", "m~n", "~1", "rolechain.dev/status", "/"}

func filler(seed int64) *randfill.Filler {
	quantities := []string{"0", "1", "10m", "16Mi", "1Gi", "2.5"}
	return randfill.NewWithSeed(seed).NilChance(0.5).NumElements(0, 3).MaxDepth(9).Funcs(
		func(s *string, c randfill.Continue) { *s = words[c.Intn(len(words))] },
		func(q *resource.Quantity, c randfill.Continue) {
			*q = resource.MustParse(quantities[c.Intn(len(quantities))])
		},
		func(t *metav1.Time, c randfill.Continue) {
			if c.Intn(3) > 0 {
				*t = metav1.Unix(c.Int63n(2e9), 0)
			}
		},
		func(x *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*x = intstr.FromInt32(c.Int31n(70000))
			} else {
				*x = intstr.FromString(words[c.Intn(len(words))])
			}
		},
		func(f *metav1.FieldsV1, c randfill.Continue) {
			if c.Bool() {
				f.Raw = []byte(`{"f:metadata":{"f:labels":{}}}`)
			}
		},
	)
}

// edit changes v in place at random, anywhere: values replaced, pointers
// set or cleared, list elements removed, inserted, duplicated, swapped or
// edited, map keys removed, added or edited. It is the "any difference"
// a mutation may make.
func edit(v reflect.Value, r *rand.Rand, f *randfill.Filler, p float64) {
	refill := func() {
		n := reflect.New(v.Type())
		f.Fill(n.Interface())
		v.Set(n.Elem())
	}
	switch v.Kind() {
	case reflect.Pointer:
		switch {
		case v.IsNil():
			if r.Float64() < p {
				refill()
			}
		case r.Float64() < p/4:
			v.Set(reflect.Zero(v.Type()))
		default:
			edit(v.Elem(), r, f, p)
		}
	case reflect.Struct:
		switch v.Type() {
		case reflect.TypeFor[resource.Quantity](), reflect.TypeFor[metav1.Time](), reflect.TypeFor[intstr.IntOrString](), reflect.TypeFor[metav1.FieldsV1]():
			if r.Float64() < p {
				refill()
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && r.Float64() < 0.5 {
				edit(v.Field(i), r, f, p)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		n := v.Len()
		if r.Float64() < p {
			switch r.Intn(7) {
			case 0: // remove one
				if n > 0 {
					i := r.Intn(n)
					v.Set(reflect.AppendSlice(v.Slice(0, i), v.Slice(i+1, n)))
				}
			case 1: // insert a new one anywhere
				e := reflect.New(v.Type().Elem())
				f.Fill(e.Interface())
				i := r.Intn(n + 1)
				out := reflect.MakeSlice(v.Type(), 0, n+1)
				out = reflect.Append(reflect.AppendSlice(out, v.Slice(0, i)), e.Elem())
				v.Set(reflect.AppendSlice(out, v.Slice(i, n)))
			case 2: // duplicate one
				if n > 0 {
					v.Set(reflect.Append(v, v.Index(r.Intn(n))))
				}
			case 3: // swap two
				if n > 1 {
					i, j := r.Intn(n), r.Intn(n)
					a, b := v.Index(i).Interface(), v.Index(j).Interface()
					v.Index(i).Set(reflect.ValueOf(b))
					v.Index(j).Set(reflect.ValueOf(a))
				}
			case 4:
				v.Set(reflect.Zero(v.Type()))
			case 5:
				v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			default:
				refill()
			}
			return
		}
		for i := range v.Len() {
			if r.Float64() < 0.5 {
				edit(v.Index(i), r, f, p)
			}
		}
	case reflect.Map:
		if r.Float64() < p/2 {
			switch r.Intn(3) {
			case 0:
				v.Set(reflect.Zero(v.Type()))
			case 1:
				v.Set(reflect.MakeMap(v.Type()))
			default:
				refill()
			}
			return
		}
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			switch x := r.Float64(); {
			case x < p:
				v.SetMapIndex(k, reflect.Value{})
			case x < 2*p:
				e := reflect.New(v.Type().Elem()).Elem()
				e.Set(v.MapIndex(k))
				edit(e, r, f, 1)
				v.SetMapIndex(k, e)
			}
		}
		if r.Float64() < p {
			k := reflect.New(v.Type().Key())
			e := reflect.New(v.Type().Elem())
			f.Fill(k.Interface())
			f.Fill(e.Interface())
			v.SetMapIndex(k.Elem(), e.Elem())
		}
	default:
		if r.Float64() < p {
			refill()
		}
	}
}

// assertPatchTurns applies Diff(from, to) to the JSON encoding of from
// with the JSON Patch implementation kube-apiserver applies webhook
// patches with, and requires the result to be the JSON encoding of to.
func assertPatchTurns(t *testing.T, from, to *corev1.Pod) {
	t.Helper()
	fromJSON, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	toJSON, err := json.Marshal(to)
	if err != nil {
		t.Fatal(err)
	}
	got := apply(t, from, to, fromJSON)
	if !jsonEqual(t, got, toJSON) {
		ops, _ := patch.Diff(from, to)
		pj, _ := json.Marshal(ops)
		t.Fatalf("patched document differs from the target\nfrom:  %s\nto:    %s\npatch: %s\ngot:   %s", fromJSON, toJSON, pj, got)
	}
}

func apply(t *testing.T, from, to any, doc []byte) []byte {
	t.Helper()
	ops, err := patch.Diff(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := patch.Encode(&buf, ops); err != nil {
		t.Fatal(err)
	}
	pj := buf.Bytes()
	if std, err := json.Marshal(ops); len(ops) > 0 && (err != nil || !jsonEqual(t, pj, std)) {
		t.Fatalf("patch.Encode gave %s, json.Marshal %s (%v)", pj, std, err)
	}
	p, err := jsonpatch4.DecodePatch(pj)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("applying %s to %s: %v", pj, doc, err)
	}
	return got
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	for _, s := range []struct {
		b []byte
		v *any
	}{{a, &x}, {b, &y}} {
		d := json.NewDecoder(bytes.NewReader(s.b))
		d.UseNumber()
		if err := d.Decode(s.v); err != nil {
			t.Fatalf("%v: %s", err, s.b)
		}
	}
	return reflect.DeepEqual(x, y)
}

func randomPod(f *randfill.Filler) *corev1.Pod {
	pod := &corev1.Pod{}
	f.Fill(pod)
	return pod
}

// FuzzDiff: for random pods and random edits of them (and for two
// unrelated random pods), the patch turns the first pod's JSON into the
// second's, and a pod diffed with itself gives no operation.
func FuzzDiff(f *testing.F) {
	for seed := range int64(64) {
		f.Add(seed, uint8(seed%4))
	}
	f.Fuzz(func(t *testing.T, seed int64, mode uint8) {
		fill := filler(seed)
		r := rand.New(rand.NewSource(seed))
		from := randomPod(fill)
		var to *corev1.Pod
		switch mode % 4 {
		case 0: // unrelated pods
			to = randomPod(fill)
		case 1: // a few edits
			to = from.DeepCopy()
			edit(reflect.ValueOf(to).Elem(), r, fill, 0.05)
		case 2: // many edits
			to = from.DeepCopy()
			edit(reflect.ValueOf(to).Elem(), r, fill, 0.3)
		default: // from empty
			to, from = from, &corev1.Pod{}
		}
		assertPatchTurns(t, from, to)
		assertPatchTurns(t, to, from)
		if ops, _ := patch.Diff(to, to.DeepCopy()); len(ops) != 0 {
			t.Fatalf("a pod diffed with its copy gave %v", ops)
		}
	})
}

// TestDiffOfRandomPods runs many more seeds than FuzzDiff's corpus.
func TestDiffOfRandomPods(t *testing.T) {
	n := int64(300)
	if testing.Short() {
		n = 50
	}
	for seed := range n {
		fill := filler(seed)
		r := rand.New(rand.NewSource(seed))
		from := randomPod(fill)
		to := from.DeepCopy()
		edit(reflect.ValueOf(to).Elem(), r, fill, []float64{0.02, 0.1, 0.4}[seed%3])
		assertPatchTurns(t, from, to)
		assertPatchTurns(t, to, from)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}
