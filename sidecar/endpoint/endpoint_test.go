package endpoint_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/rolechain/rolechain/sidecar/chain"
	"github.com/rolechain/rolechain/sidecar/endpoint"
)

func TestEndpointServesCredentialsOnlyWithTheToken(t *testing.T) {
	now := time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)
	store := endpoint.NewStore()
	h := &endpoint.Handler{Store: store, Token: "good-token", Profiles: []string{"default", "other"}, Now: func() time.Time { return now }}
	store.Publish("default", chain.Credentials{AccessKeyID: "ASIAKEY", SecretAccessKey: "sec", SessionToken: "tok", Expiration: now.Add(time.Hour)})

	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "/v1/credentials/default", "", 401},
		{"wrong token", "GET", "/v1/credentials/default", "bad-token!", 401},
		{"token prefix", "GET", "/v1/credentials/default", "good", 401},
		{"right token", "GET", "/v1/credentials/default", "good-token", 200},
		{"unknown profile", "GET", "/v1/credentials/nope", "good-token", 404},
		{"other path", "GET", "/", "good-token", 404},
		{"profile without credentials yet", "GET", "/v1/credentials/other", "good-token", 503},
		{"POST", "POST", "/v1/credentials/default", "good-token", 405},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.want)
		}
	}
}

// A profile without credentials answers 503; the message tells "not yet"
// from "expired", whether the credentials expired in the store or were
// withdrawn by the refresh loop.
func TestEndpointSaysWhetherCredentialsAreNotYetThereOrExpired(t *testing.T) {
	now := time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)
	store := endpoint.NewStore()
	h := &endpoint.Handler{Store: store, Token: "good-token", Profiles: []string{"default"}, Now: func() time.Time { return now }}
	get := func() (int, string) {
		r := httptest.NewRequest("GET", "/v1/credentials/default", nil)
		r.Header.Set("Authorization", "good-token")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var body map[string]string
		json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body["message"]
	}
	if code, msg := get(); code != 503 || msg != "no valid credentials yet" {
		t.Errorf("before the first credentials: %d %q", code, msg)
	}
	exp := now.Add(time.Hour)
	store.Publish("default", chain.Credentials{AccessKeyID: "ASIAKEY", SecretAccessKey: "sec", SessionToken: "tok", Expiration: exp})
	now = exp
	if code, msg := get(); code != 503 || !strings.Contains(msg, "expired at 2026-11-24T08:00:00Z") {
		t.Errorf("at expiry: %d %q", code, msg)
	}
	store.Withdraw("default")
	if code, msg := get(); code != 503 || !strings.Contains(msg, "expired at 2026-11-24T08:00:00Z") {
		t.Errorf("after withdrawal: %d %q", code, msg)
	}
	store.Publish("default", chain.Credentials{AccessKeyID: "ASIAKEY2", SecretAccessKey: "sec", SessionToken: "tok", Expiration: exp.Add(time.Hour)})
	if code, _ := get(); code != 200 {
		t.Errorf("after a new publish: %d", code)
	}
}

// The SDK's own container-credentials client accepts the response.
func TestGoSDKReadsTheEndpoint(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	store := endpoint.NewStore()
	store.Publish("default", chain.Credentials{AccessKeyID: "ASIAKEY", SecretAccessKey: "sec", SessionToken: "tok", Expiration: exp})
	srv := httptest.NewServer(&endpoint.Handler{Store: store, Token: "good-token", Profiles: []string{"default"}})
	defer srv.Close()
	p := endpointcreds.New(srv.URL+"/v1/credentials/default", func(o *endpointcreds.Options) { o.AuthorizationToken = "good-token" })
	c, err := p.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != "ASIAKEY" || c.SecretAccessKey != "sec" || c.SessionToken != "tok" || !c.Expires.Equal(exp) || !c.CanExpire {
		t.Fatalf("SDK read %+v", c)
	}
}
