package patch

import (
	"bytes"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"gomodules.xyz/jsonpatch/v2"
)

// Marshal encodes ops as a JSON Patch document, as json.Marshal(ops)
// would, in one buffer: jsonpatch.Operation's MarshalJSON encodes every
// value on its own, and encoding/json then re-scans each result to
// compact it.
func Marshal(ops []jsonpatch.Operation) ([]byte, error) {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			buf.Reset()
			buffers.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	buf.WriteByte('[')
	for i, o := range ops {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"op":`)
		writeString(buf, o.Operation)
		buf.WriteString(`,"path":`)
		writeString(buf, o.Path)
		switch {
		case o.Value != nil:
			buf.WriteString(`,"value":`)
			if err := enc.Encode(o.Value); err != nil {
				return nil, err
			}
			buf.Truncate(buf.Len() - 1) // Encode's newline
		case o.Operation == "add" || o.Operation == "replace":
			buf.WriteString(`,"value":null`)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return bytes.Clone(buf.Bytes()), nil
}

// buffers keep Marshal's working buffers between calls: a patch is a few
// KiB, and growing a fresh buffer to that size was most of its garbage.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeString writes s as a JSON string: directly when it is printable
// ASCII without quotes or backslashes (every path this package builds
// from Kubernetes names), through encoding/json otherwise.
func writeString(buf *bytes.Buffer, s string) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			buf.Write(b)
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}
