package patch

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"gomodules.xyz/jsonpatch/v2"
)

// Encode appends ops to buf as a JSON Patch document, as json.Marshal(ops)
// would, in one buffer: jsonpatch.Operation's MarshalJSON encodes every
// value on its own, and encoding/json then re-scans each result to
// compact it. The server encodes into a buffer it reuses: a patch is a
// few KiB, and a fresh one per admission was much of its garbage. After
// an error buf holds part of a document.
func Encode(buf *bytes.Buffer, ops []jsonpatch.Operation) error {
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
				return err
			}
			buf.Truncate(buf.Len() - 1) // Encode's newline
		case o.Operation == "add" || o.Operation == "replace":
			buf.WriteString(`,"value":null`)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return nil
}

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
