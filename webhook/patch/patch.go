// Package patch computes the JSON Patch (RFC 6902) that turns the JSON
// encoding of one typed object into that of another of the same type: the
// admission response for a typed mutation, without serializing either
// object and without diffing two JSON documents.
//
// Diff walks both values with reflection, as encoding/json would encode
// them (json tags, omitempty and omitzero, embedded structs, custom
// marshalers), and emits operations only where they differ:
//
//   - an object member present on one side only is added or removed; one
//     present on both is descended into, down to the leaves that changed;
//   - a list whose elements have a unique "name" (containers, env,
//     volumes, volume mounts, ports …) is matched by name: removals, then
//     in-place changes and insertions in order, so that a sidecar inserted
//     at index 0 is one "add" and a variable appended to a container is
//     one "add" at the container's env;
//   - any other list, or one whose names repeat or change order, is
//     matched by position after its common prefix and suffix.
//
// The operations are correct for any difference (additions, removals,
// replacements, in any field) when applied in order to the JSON encoding
// of from, and to the document from was decoded from when encoding/json
// (or kube-apiserver, which encodes the same way) wrote it, even if it
// holds members this program's types do not know: those are never
// touched, unlike a diff of two serialized objects, which removes what
// the older type dropped.
package patch

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gomodules.xyz/jsonpatch/v2"
)

// Diff returns the operations that turn the JSON encoding of *from into
// that of *to. from and to must be non-nil pointers to the same struct
// type. The operations' values point into to: encode them before to
// changes.
func Diff(from, to any) ([]jsonpatch.Operation, error) {
	a, b := reflect.ValueOf(from), reflect.ValueOf(to)
	if a.Kind() != reflect.Pointer || a.IsNil() || b.Kind() != reflect.Pointer || b.IsNil() || a.Type() != b.Type() || a.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("patch.Diff(%T, %T): want two non-nil pointers to the same struct type", from, to)
	}
	d := &differ{path: make([]byte, 0, 128)}
	d.value(metaOf(a.Type().Elem()), a.Elem(), b.Elem(), false)
	return d.ops, nil
}

type differ struct {
	ops  []jsonpatch.Operation
	path []byte
}

func (d *differ) emit(op string, v reflect.Value) {
	o := jsonpatch.Operation{Operation: op, Path: string(d.path)}
	if op != "remove" {
		o.Value = jsonValue(v)
	}
	d.ops = append(d.ops, o)
}

// set replaces the value at the current path: "add" for an object member
// (RFC 6902 §4.1: add replaces a member that exists, so this holds whether
// or not the document carries an empty member there), "replace" for an
// array element ("add" would insert).
func (d *differ) set(v reflect.Value, elem bool) {
	if elem {
		d.emit("replace", v)
	} else {
		d.emit("add", v)
	}
}

func (d *differ) push(seg string) int {
	n := len(d.path)
	d.path = append(d.path, '/')
	// RFC 6901: "~" is written "~0" and "/" is written "~1".
	for i := range len(seg) {
		switch seg[i] {
		case '~':
			d.path = append(d.path, "~0"...)
		case '/':
			d.path = append(d.path, "~1"...)
		default:
			d.path = append(d.path, seg[i])
		}
	}
	return n
}

func (d *differ) pushIndex(i int) int {
	n := len(d.path)
	d.path = append(d.path, '/')
	d.path = strconv.AppendInt(d.path, int64(i), 10)
	return n
}

func (d *differ) pop(n int) { d.path = d.path[:n] }

// value diffs two values of the same type found at the current path, both
// present in their documents. elem says whether the path is an array
// element.
func (d *differ) value(m *typeMeta, a, b reflect.Value, elem bool) {
	if m.leaf {
		if !leafEqual(a, b) {
			d.set(b, elem)
		}
		return
	}
	if shared(a, b) {
		return
	}
	switch a.Kind() {
	case reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil() || b.IsNil():
			d.set(b, elem)
		default:
			d.value(m.elemMeta(a.Type()), a.Elem(), b.Elem(), elem)
		}
	case reflect.Struct:
		d.structFields(m, a, b, elem)
	case reflect.Map:
		d.mapEntries(m, a, b, elem)
	case reflect.Slice:
		d.list(m, a, b, elem)
	default:
		// Interfaces, arrays: compared whole.
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.set(b, elem)
		}
	}
}

// shared reports whether a and b are one and the same pointer, map or
// slice (same address; for a slice also the same length): equal without a
// walk. A typed mutation that copies only what it changes (as
// inject.Mutate does) leaves most of its result shared with its input, and
// the walk then visits only what was copied.
func shared(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer, reflect.Map:
		return a.UnsafePointer() == b.UnsafePointer()
	case reflect.Slice:
		return a.Len() == b.Len() && a.IsNil() == b.IsNil() && a.UnsafePointer() == b.UnsafePointer()
	}
	return false
}

func (d *differ) structFields(info *typeMeta, a, b reflect.Value, elem bool) {
	if info.opaque {
		// A shape this package does not take apart (see fieldsOf): the
		// whole object at once.
		if !reflect.DeepEqual(addr(a), addr(b)) {
			d.set(b, elem)
		}
		return
	}
	for i := range info.fields {
		f := &info.fields[i]
		fa, fb := a.FieldByIndex(f.index), b.FieldByIndex(f.index)
		pa, pb := f.present(fa), f.present(fb)
		if !pa && !pb {
			continue
		}
		n := d.push(f.name)
		switch {
		case pa && pb:
			d.value(info.fieldMeta(a.Type(), i), fa, fb, false)
		case pa:
			d.emit("remove", reflect.Value{})
		default:
			d.emit("add", fb)
		}
		d.pop(n)
	}
}

func (d *differ) mapEntries(m *typeMeta, a, b reflect.Value, elem bool) {
	if a.IsNil() != b.IsNil() || a.Type().Key().Kind() != reflect.String {
		// null against {} (a member without omitempty), or keys this
		// package does not spell: the whole map.
		if a.IsNil() != b.IsNil() || !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.set(b, elem)
		}
		return
	}
	if a.Len() == 0 && b.Len() == 0 {
		return
	}
	if a.Len() == 0 {
		// One operation, not one per key; it also holds when the document
		// has no map here at all.
		d.set(b, elem)
		return
	}
	// Sorted, so that the same change gives the same patch.
	for _, k := range sortedKeys(a) {
		if !b.MapIndex(k).IsValid() {
			n := d.push(k.String())
			d.emit("remove", reflect.Value{})
			d.pop(n)
		}
	}
	for _, k := range sortedKeys(b) {
		va, vb := a.MapIndex(k), b.MapIndex(k)
		n := d.push(k.String())
		if va.IsValid() {
			d.value(m.elemMeta(a.Type()), va, vb, false)
		} else {
			d.emit("add", vb)
		}
		d.pop(n)
	}
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
	return keys
}

func (d *differ) list(m *typeMeta, a, b reflect.Value, elem bool) {
	if a.IsNil() != b.IsNil() {
		// null against [] (a member without omitempty).
		d.set(b, elem)
		return
	}
	la, lb := a.Len(), b.Len()
	if la == 0 && lb == 0 {
		return
	}
	if la == 0 || lb == 0 {
		d.set(b, elem)
		return
	}
	em := m.elemMeta(a.Type())
	if em.key != nil && d.keyed(em, a, b) {
		return
	}
	d.positional(em, a, b)
}

// keyed diffs two lists whose elements carry a unique name, matching them
// by name. It reports false, and emits nothing, when names repeat or the
// names both lists hold appear in a different order.
func (d *differ) keyed(em *typeMeta, a, b reflect.Value) bool {
	key := em.key
	la, lb := a.Len(), b.Len()
	names := func(l reflect.Value) ([]string, bool) {
		out := make([]string, l.Len())
		for i := range out {
			e := l.Index(i)
			if e.Kind() == reflect.Pointer {
				if e.IsNil() {
					return nil, false
				}
				e = e.Elem()
			}
			out[i] = e.FieldByIndex(key).String()
		}
		return out, !hasDuplicates(out)
	}
	ka, okA := names(a)
	kb, okB := names(b)
	if !okA || !okB {
		return false
	}
	// The names on both sides, in a's order and in b's order, must agree;
	// otherwise elements moved, and a positional diff says it correctly.
	var ia []int // indexes in a of the names b keeps
	for i, k := range ka {
		if slices.Contains(kb, k) {
			ia = append(ia, i)
		}
	}
	j := 0
	for _, k := range kb {
		if slices.Contains(ka, k) {
			if ka[ia[j]] != k {
				return false
			}
			j++
		}
	}
	// (1) Removals, from the end so that the indexes stay right.
	for i := la - 1; i >= 0; i-- {
		if !slices.Contains(kb, ka[i]) {
			n := d.pushIndex(i)
			d.emit("remove", reflect.Value{})
			d.pop(n)
		}
	}
	// (2) In b's order: an element a has is diffed in place, a new one is
	// inserted. Before step j the document's list is b[:j] followed by
	// the rest of a's kept elements, so index j is right for both.
	next := 0
	for j := range lb {
		n := d.pushIndex(j)
		if next < len(ia) && ka[ia[next]] == kb[j] {
			d.value(em, a.Index(ia[next]), b.Index(j), true)
			next++
		} else {
			d.emit("add", b.Index(j))
		}
		d.pop(n)
	}
	return true
}

// positional diffs two lists element by element after their common
// prefix and suffix: the pairs in between are diffed in place, then a's
// surplus is removed or b's surplus inserted.
func (d *differ) positional(em *typeMeta, a, b reflect.Value) {
	la, lb := a.Len(), b.Len()
	p := 0
	for p < la && p < lb && deepEqual(a.Index(p), b.Index(p)) {
		p++
	}
	s := 0
	for s < la-p && s < lb-p && deepEqual(a.Index(la-1-s), b.Index(lb-1-s)) {
		s++
	}
	ma, mb := la-p-s, lb-p-s
	m := min(ma, mb)
	for k := range m {
		n := d.pushIndex(p + k)
		d.value(em, a.Index(p+k), b.Index(p+k), true)
		d.pop(n)
	}
	for k := ma - 1; k >= m; k-- {
		n := d.pushIndex(p + k)
		d.emit("remove", reflect.Value{})
		d.pop(n)
	}
	for k := m; k < mb; k++ {
		n := d.pushIndex(p + k)
		d.emit("add", b.Index(p+k))
		d.pop(n)
	}
}

func hasDuplicates(keys []string) bool {
	for i := range keys {
		if slices.Contains(keys[i+1:], keys[i]) {
			return true
		}
	}
	return false
}

func deepEqual(a, b reflect.Value) bool { return reflect.DeepEqual(addr(a), addr(b)) }

// addr returns v as an interface without copying it where it can: a
// pointer to it when v is addressable.
func addr(v reflect.Value) any {
	if v.CanAddr() {
		return v.Addr().Interface()
	}
	return v.Interface()
}

// jsonValue is v as the operation's value, encoded later exactly as its
// field would be: through a pointer when the type's marshaler has a
// pointer receiver (encoding/json uses it only on addressable values).
// JSON null is nil (jsonpatch.Operation writes "value": null for an add
// or a replace).
func jsonValue(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if v.IsNil() {
			return nil
		}
	}
	if v.Kind() == reflect.Struct || metaOf(v.Type()).needsAddr {
		if v.CanAddr() {
			return v.Addr().Interface()
		}
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		return p.Interface()
	}
	return v.Interface()
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func needsAddr(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return (pt.Implements(marshalerType) && !t.Implements(marshalerType)) ||
		(pt.Implements(textMarshalerType) && !t.Implements(textMarshalerType))
}

// isLeaf reports whether t is compared and set as a whole: scalars, and
// types that encode themselves (resource.Quantity, metav1.Time,
// intstr.IntOrString …), whose JSON shape is not their Go shape.
func isLeaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return true // base64 in JSON
		}
	}
	return t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

func leafEqual(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	return deepEqual(a, b)
}

// field is one JSON member of a struct type.
type field struct {
	name      string
	index     []int
	omitEmpty bool
	omitZero  bool
}

// present reports whether encoding/json writes the member.
func (f *field) present(v reflect.Value) bool {
	if f.omitZero && v.IsZero() {
		return false
	}
	if !f.omitEmpty {
		return true
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() != 0
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return v.Float() != 0
	case reflect.Interface, reflect.Pointer:
		return !v.IsNil()
	}
	return true
}

// typeMeta is what Diff needs to know about a type, worked out once.
type typeMeta struct {
	// leaf: compared and set whole (see isLeaf).
	leaf bool
	// needsAddr: encoded through a pointer (see jsonValue).
	needsAddr bool
	// fields are a struct's JSON members.
	fields []field
	// opaque: a struct with a shape this package does not take apart,
	// compared and set whole.
	opaque bool
	// key is the index of the string member "name" of a struct (or of
	// the struct a pointer points to), which identifies list elements;
	// nil if it has none.
	key []int
	// elem and fieldMetas remember, once looked up, the metadata of the
	// element type (pointer, slice, map) and of each field's type: the
	// walk then looks nothing up.
	elem       atomic.Pointer[typeMeta]
	fieldMetas []atomic.Pointer[typeMeta]
}

func (m *typeMeta) elemMeta(t reflect.Type) *typeMeta {
	if e := m.elem.Load(); e != nil {
		return e
	}
	e := metaOf(t.Elem())
	m.elem.Store(e)
	return e
}

func (m *typeMeta) fieldMeta(t reflect.Type, i int) *typeMeta {
	if f := m.fieldMetas[i].Load(); f != nil {
		return f
	}
	f := metaOf(t.FieldByIndex(m.fields[i].index).Type)
	m.fieldMetas[i].Store(f)
	return f
}

var metas sync.Map // reflect.Type → *typeMeta

func metaOf(t reflect.Type) *typeMeta {
	if v, ok := metas.Load(t); ok {
		return v.(*typeMeta)
	}
	m := &typeMeta{leaf: isLeaf(t), needsAddr: needsAddr(t)}
	if t.Kind() == reflect.Struct && !m.leaf {
		m.fields, m.opaque = fieldsOf(t, nil)
		seen := map[string]bool{}
		for _, f := range m.fields {
			if seen[f.name] {
				// encoding/json's rules for colliding names are not
				// reproduced here.
				m.opaque = true
			}
			seen[f.name] = true
		}
		m.fieldMetas = make([]atomic.Pointer[typeMeta], len(m.fields))
		if !m.opaque {
			for _, f := range m.fields {
				if f.name == "name" && t.FieldByIndex(f.index).Type.Kind() == reflect.String {
					m.key = f.index
				}
			}
		}
	}
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		m.key = metaOf(t.Elem()).key
	}
	v, _ := metas.LoadOrStore(t, m)
	return v.(*typeMeta)
}

// fieldsOf lists t's JSON members in order, embedded structs flattened as
// encoding/json flattens them. It reports opaque for what it does not
// reproduce: embedded pointers and the ",string" option.
func fieldsOf(t reflect.Type, prefix []int) (fields []field, opaque bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(slices.Clone(prefix), i)
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				return nil, true
			}
			if ft.Kind() == reflect.Struct {
				if isLeaf(ft) {
					return nil, true
				}
				sub, op := fieldsOf(ft, index)
				if op {
					return nil, true
				}
				fields = append(fields, sub...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := field{name: name, index: index}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty":
				f.omitEmpty = true
			case "omitzero":
				f.omitZero = true
			case "string":
				return nil, true
			}
		}
		fields = append(fields, f)
	}
	return fields, false
}
