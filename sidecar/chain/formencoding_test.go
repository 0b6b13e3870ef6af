package chain_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rolechain/rolechain/internal/ststest"
	"github.com/rolechain/rolechain/sidecar/chain"
)

// bodies records the body of every request it forwards.
type bodies struct {
	mu   sync.Mutex
	seen []string
}

func (b *bodies) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.seen = append(b.seen, string(body))
	b.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(r)
}

// radosgw 16.2 reads '+' as a plus sign in STS parameters: spaces must go
// as %20, and the parameters must still arrive exactly as configured (the
// signature, over the rewritten body, must still verify).
func TestSpacesTravelAsPercent20AndArriveUnchanged(t *testing.T) {
	srv := ststest.New(t)
	rec := &bodies{}
	policy := `{"Version": "2012-10-17", "Statement": [{"Sid": "a+b c", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}]}`
	c := &chain.Chain{
		Source: chain.WebIdentity{TokenFile: writeToken(t, t.TempDir(), "jwt")}, Roles: []string{webRole, targetRole},
		SessionName: "s1", Region: "us-east-1", Endpoint: srv.URL, HTTPClient: &http.Client{Transport: rec},
		SessionPolicy: policy, Tags: []chain.Tag{{Key: "team", Value: "team a"}},
	}
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, body := range rec.seen {
		if strings.Contains(body, "+") {
			t.Errorf("request %d carries a '+': %s", i+1, body)
		}
	}
	if !strings.Contains(rec.seen[1], "%22Sid%22%3A%20%22a%2Bb%20c%22") {
		t.Errorf("the target hop's body does not encode the spaces as %%20 and the plus as %%2B: %s", rec.seen[1])
	}
	target := srv.Calls()[1]
	if target.Policy != policy || target.Tags["team"] != "team a" || target.SignedBy == "" {
		t.Fatalf("STS decoded Policy %q, tags %v (signed by %q)", target.Policy, target.Tags, target.SignedBy)
	}
}
