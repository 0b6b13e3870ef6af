package server

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// stalledBody yields its bytes and then reports an unexpected EOF, as
// net/http does for a connection that closes before the announced length.
type stalledBody struct{ r io.Reader }

func (b stalledBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (stalledBody) Close() error { return nil }

// TestReadBodyGrowsOnlyWithWhatWasRead is the attack of issue 21 item 2: a
// client announces the largest body the webhook accepts and sends one
// byte. The buffer must not be sized from the header (that cost 7 MiB per
// stalled connection), and the short body is a 400.
func TestReadBodyGrowsOnlyWithWhatWasRead(t *testing.T) {
	for name, body := range map[string]io.ReadCloser{
		"closed early":        stalledBody{strings.NewReader("{")},
		"shorter than header": io.NopCloser(strings.NewReader("{")),
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mutate", nil)
			r.Body = body
			r.ContentLength = 7_000_000
			r.Header.Set("Content-Type", "application/json")
			buf := new(bytes.Buffer)
			_, status, err := readBody(r, buf)
			if err == nil || status != http.StatusBadRequest {
				t.Fatalf("status %d, error %v; want 400 for a body shorter than its Content-Length", status, err)
			}
			if buf.Cap() > 64<<10 {
				t.Fatalf("read 1 byte into a buffer of %d bytes: sized from the header", buf.Cap())
			}
		})
	}
}

func TestReadBodyLimits(t *testing.T) {
	review := `{"request":{"uid":"a"}}`
	for _, tc := range []struct {
		name   string
		body   string
		length int64 // -1: unknown (chunked)
		status int32
	}{
		{"exact length", review, int64(len(review)), 0},
		{"chunked", review, -1, 0},
		{"announced over the limit", review, maxRequestBytes + 1, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", strings.Repeat(" ", maxRequestBytes+1), -1, http.StatusRequestEntityTooLarge},
		{"chunked at the limit", strings.Repeat(" ", maxRequestBytes), -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mutate", strings.NewReader(tc.body))
			r.ContentLength = tc.length
			r.Header.Set("Content-Type", "application/json")
			got, status, err := readBody(r, new(bytes.Buffer))
			if status != tc.status {
				t.Fatalf("status %d (%v), want %d", status, err, tc.status)
			}
			if tc.status == 0 && string(got) != tc.body {
				t.Fatalf("body %.40q, want %.40q", got, tc.body)
			}
		})
	}
}
