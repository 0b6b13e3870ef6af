package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Error bodies explain RGW's refusals and must reach the log; success
// bodies carry credentials and must not.
func TestErrorBodiesLogsOnlyFailures(t *testing.T) {
	const secret = "<SecretAccessKey>s3cr3t</SecretAccessKey>"
	const denied = "<Error><Code>AccessDenied</Code></Error>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = io.WriteString(w, secret)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, denied)
	}))
	defer srv.Close()

	var log strings.Builder
	c := errorBodies{next: srv.Client(), log: &log}
	for path, want := range map[string]string{"/ok": secret, "/denied": denied} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(body) != want {
			t.Errorf("%s: caller read %q, want the full body %q", path, body, want)
		}
	}
	if !strings.Contains(log.String(), "403 "+denied) {
		t.Errorf("log %q lacks the 403 body", log.String())
	}
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("log %q contains a success body", log.String())
	}
}
