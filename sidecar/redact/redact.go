// Package redact knows every secret the sidecar currently holds and removes
// them from text before it leaves the process: logs, lines printed on
// stderr, metric labels. It does not matter where the text came from: an
// STS-compatible peer may echo the request (the web-identity token, the
// signing session token) in its error message, and the SDK puts that
// message into the error we log.
//
// Code that reads or receives a secret registers it with Hold, under an
// owner (who holds it) and a Kind (what it is, shown in its place). A new
// Hold by the same owner and kind replaces the previous values, so the set
// follows what is held now without growing: a rotated token or refreshed
// keys replace the old ones. To add a new kind of secret (say, a new chain
// source's authorization token), declare a Kind below and call
// Default.Hold where the secret is read; every sink already scrubs with
// Default.
package redact

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Kind names a class of secret; the placeholder that replaces a secret
// says its kind, so a redacted log line still tells what was there.
type Kind string

// Kinds of secrets the sidecar holds.
const (
	WebIdentityToken Kind = "web-identity token"
	AccessKeyID      Kind = "access key ID"
	SecretAccessKey  Kind = "secret access key"
	SessionToken     Kind = "session token"
	EndpointToken    Kind = "endpoint token"
	// PodIdentityToken authorizes requests to EKS's Pod Identity Agent
	// (--source pod-identity).
	PodIdentityToken Kind = "pod identity token"
)

// MinLength is the shortest value Hold registers. Every real secret is far
// longer (an access key ID has 20 characters, an endpoint token 64); a
// short value (a static key file holding "x" by mistake) would otherwise
// mangle every log line that happens to contain it.
const MinLength = 8

// Default is the set of the secrets this process holds. The sidecar's
// components register into it and its sinks (the log handler, stderr)
// scrub with it.
var Default = New()

// Set is a set of secrets, safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	held     map[slot][]string
	replacer *strings.Replacer // built from held on first use after a change
}

type slot struct {
	owner any
	kind  Kind
}

// New returns an empty Set.
func New() *Set { return &Set{held: map[slot][]string{}} }

// Hold records values as the secrets of kind that owner holds now,
// replacing what owner held of that kind before. Holding no values
// forgets them. owner must be comparable (a pointer, a string, a small
// struct); values shorter than MinLength are ignored.
func (s *Set) Hold(owner any, kind Kind, values ...string) {
	var keep []string
	for _, v := range values {
		if len(v) >= MinLength {
			keep = append(keep, v)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := slot{owner, kind}
	if slices.Equal(s.held[k], keep) {
		return
	}
	if len(keep) == 0 {
		delete(s.held, k)
	} else {
		s.held[k] = keep
	}
	s.replacer = nil
}

// String returns text with every held secret replaced by
// "[redacted <kind>]". A secret is also found in its URL-encoded form,
// the way a form body (an STS request) carries it.
func (s *Set) String(text string) string {
	s.mu.RLock()
	r := s.replacer
	s.mu.RUnlock()
	if r == nil {
		r = s.build()
	}
	return r.Replace(text)
}

func (s *Set) build() *strings.Replacer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replacer != nil {
		return s.replacer
	}
	type pair struct{ secret, placeholder string }
	var pairs []pair
	for k, values := range s.held {
		placeholder := "[redacted " + string(k.kind) + "]"
		for _, v := range values {
			pairs = append(pairs, pair{v, placeholder})
			if e := url.QueryEscape(v); e != v {
				pairs = append(pairs, pair{e, placeholder})
			}
		}
	}
	// At one position the Replacer tries its pairs in order: longest
	// first, so that a secret containing another is replaced whole.
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(len(b.secret), len(a.secret)), strings.Compare(a.secret, b.secret))
	})
	args := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.secret, p.placeholder)
	}
	s.replacer = strings.NewReplacer(args...)
	return s.replacer
}

// Writer returns a writer that scrubs each write before passing it on to
// w. A secret split across two writes would pass: give it whole lines.
func (s *Set) Writer(w io.Writer) io.Writer { return writer{s, w} }

type writer struct {
	s *Set
	w io.Writer
}

func (w writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, w.s.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Handler returns a slog.Handler that scrubs the message and every
// attribute value (strings, errors, and anything else by its formatted
// form) before next sees the record. Attributes added with With are
// scrubbed when they are added, with the secrets held then.
func (s *Set) Handler(next slog.Handler) slog.Handler { return handler{s, next} }

type handler struct {
	s    *Set
	next slog.Handler
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.s.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return handler{h.s, h.next.WithAttrs(out)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.s, h.next.WithGroup(name)}
}

func (h handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		v = slog.StringValue(h.s.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = h.attr(g)
		}
		v = slog.GroupValue(out...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			v = slog.StringValue(h.s.String(x.Error()))
		case []string:
			out := make([]string, len(x))
			for i, e := range x {
				out[i] = h.s.String(e)
			}
			v = slog.AnyValue(out)
		default:
			// Keep the value (and its JSON form) unless its text holds a
			// secret.
			if text := fmt.Sprint(x); h.s.String(text) != text {
				v = slog.StringValue(h.s.String(text))
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
