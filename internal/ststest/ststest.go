// Package ststest is an in-process AWS STS for tests: an httptest server that
// speaks the STS Query API (AssumeRoleWithWebIdentity and AssumeRole), answers
// with the XML bodies and error documents real STS sends, and checks what a
// real STS checks about the caller:
//
//   - AssumeRoleWithWebIdentity must be unsigned and carry a token the server
//     accepts (by default any non-empty token; see RejectToken).
//   - AssumeRole must be SigV4-signed with credentials the server issued (or
//     registered with AddKey), including their session token, and those
//     credentials must be unexpired by the server's clock. The signature is
//     recomputed with aws-sdk-go-v2's signer, not by hand.
//
// Every request is recorded as a Call, with the parameters that matter
// (RoleArn, RoleSessionName, DurationSeconds, ExternalId, Tags,
// SourceIdentity, WebIdentityToken, the session policies Policy and
// PolicyArns) and the access key that signed it, so tests can assert that
// hop N+1 was signed with hop N's credentials.
//
// Faults are programmable: STS error codes, HTTP 5xx, slow responses and
// malformed bodies, either for the next N requests (FailNext) or by rule
// (FailWhen).
package ststest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Actions the server implements.
const (
	ActionAssumeRoleWithWebIdentity = "AssumeRoleWithWebIdentity"
	ActionAssumeRole                = "AssumeRole"
)

// STS error codes, as real STS spells them.
const (
	CodeAccessDenied          = "AccessDenied"
	CodeInvalidIdentityToken  = "InvalidIdentityToken"
	CodeExpiredToken          = "ExpiredTokenException" // AssumeRoleWithWebIdentity, token expired
	CodeExpiredCallerToken    = "ExpiredToken"          // AssumeRole, caller's session expired
	CodeThrottling            = "Throttling"
	CodeIDPCommunicationError = "IDPCommunicationError"
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeInvalidClientTokenID  = "InvalidClientTokenId"
	CodeMissingAuthToken      = "MissingAuthenticationToken"
	CodeValidationError       = "ValidationError"
	CodeMalformedPolicy       = "MalformedPolicyDocument"
	CodeInvalidParameterValue = "InvalidParameterValue"
	CodeServiceUnavailable    = "ServiceUnavailable"
	CodeInternalFailure       = "InternalFailure"
)

// Credentials are the keys the server issues or accepts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // empty for long-term keys registered with AddKey
	Expiration      time.Time
}

// Call is one request the server received.
type Call struct {
	Action           string
	RoleArn          string
	RoleSessionName  string
	DurationSeconds  int32 // 0 when absent
	ExternalID       string
	SourceIdentity   string
	WebIdentityToken string
	// Tags are the session tags (Tags.member.N.Key/Value).
	Tags map[string]string
	// TransitiveTagKeys are the keys marked transitive.
	TransitiveTagKeys []string
	// Policy is the inline session policy, exactly as received ("" when
	// absent).
	Policy string
	// PolicyArns are the managed session policies (PolicyArns.member.N.arn),
	// in member order; nil when absent.
	PolicyArns []string
	// SignedBy is the access key of the SigV4 signature; empty when unsigned.
	SignedBy string
	// Issued are the credentials returned; nil when the call failed.
	Issued *Credentials
	// ErrorCode is the STS error code returned, or "" on success or when a
	// fault sent a non-STS body.
	ErrorCode string
	// Status is the HTTP status code sent.
	Status int
}

// Fault replaces the server's normal answer to one request.
type Fault struct {
	// Delay holds the response back (until the client gives up first).
	Delay time.Duration
	// Code and Message make an STS error document. Status defaults from Code
	// (400 for most, 403 for auth errors, 500/503 for server errors).
	Code    string
	Message string
	// Status sets the HTTP status. Status ≥ 500 without Code sends a bare
	// 5xx with an HTML body, as a load balancer would.
	Status int
	// Body, when set, is sent verbatim (a malformed or truncated response),
	// with Status (default 200).
	Body string
	// Echo appends the request to the error message of Code: its form
	// body (with the web-identity token) and the signing headers (access
	// key ID, session token). Real STS does not; some compatible peers echo
	// what they could not process.
	Echo bool
}

// Rule picks a fault for a request; nil means answer normally.
type Rule func(Call) *Fault

// Server is a running fake STS. Create it with New; it stops at test cleanup.
type Server struct {
	// URL is the endpoint to configure as the STS client's BaseEndpoint.
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	calls    []Call
	keys     map[string]Credentials // access key → credentials
	rejected map[string]string      // web-identity token → error code
	queue    []Fault
	rule     Rule
	account  string
	lifetime time.Duration // of issued credentials; 0: DurationSeconds
	tamper   Tamper
}

// Tamper rewrites the credentials of one successful answer before they are
// sent: a hostile or compromised peer (or anyone on the path of an http://
// endpoint) that puts a line break, an INI section or a shell command into
// a field. The server keeps the keys it issued, so a tampered access key
// cannot sign the next hop.
type Tamper func(c Call, issued Credentials) Credentials

// New starts a server and stops it when the test ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := NewUnstarted()
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// NewUnstarted returns a server that Start must start; for non-test
// programs (cmd/ststest) that manage its lifetime.
func NewUnstarted() *Server {
	s := &Server{
		now:      time.Now,
		keys:     map[string]Credentials{},
		rejected: map[string]string{},
		account:  "123456789012",
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Start starts the server on a loopback port and sets URL.
func (s *Server) Start() {
	s.srv.Start()
	s.URL = s.srv.URL
}

// Listen starts the server on addr (e.g. "127.0.0.1:8080") instead of a
// random port.
func (s *Server) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.Start()
	return nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetClock makes the server judge and issue expirations, and date its
// responses, by now instead of the wall clock: the same clock as the code
// under test, or a skewed one.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetLifetime makes issued credentials last d from the server's clock,
// whatever DurationSeconds asked for: a peer that issues short sessions,
// or (d < 0) credentials already expired when they arrive. 0 restores
// DurationSeconds.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// SetTamper installs t for every successful answer; nil removes it.
func (s *Server) SetTamper(t Tamper) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = t
}

// AddKey registers long-term (or session) keys that may sign AssumeRole,
// like an IAM user's keys from a mounted Secret.
func (s *Server) AddKey(c Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[c.AccessKeyID] = c
}

// RejectToken makes AssumeRoleWithWebIdentity fail for token with code
// (CodeInvalidIdentityToken or CodeExpiredToken, typically).
func (s *Server) RejectToken(token, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[token] = code
}

// FailNext answers the next len(faults) requests with faults, in order.
func (s *Server) FailNext(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, faults...)
}

// FailWhen installs a rule consulted for every request after the FailNext
// queue is empty; nil removes it.
func (s *Server) FailWhen(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rule = r
}

// Calls returns a copy of every request received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the calls of one action.
func (s *Server) CallsOf(action string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// Issued returns every credential the server has handed out, in order.
func (s *Server) Issued() []Credentials {
	var out []Credentials
	for _, c := range s.Calls() {
		if c.Issued != nil {
			out = append(out, *c.Issued)
		}
	}
	return out
}

// Reset forgets recorded calls and pending faults (not issued keys).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.queue = nil
	s.rule = nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// Date by the server's clock, as a real server's: clients measure the
	// skew between the clocks from it.
	s.mu.Lock()
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	s.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeValidationError, "cannot read body", "Sender")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		writeError(w, http.StatusBadRequest, CodeValidationError, "expected a POST of form parameters", "Sender")
		return
	}
	c := parseCall(form)
	if m := authHeader.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.SignedBy = m[1] // recorded for faulted calls too; verified below
	}

	s.mu.Lock()
	var fault *Fault
	if len(s.queue) > 0 {
		f := s.queue[0]
		s.queue = s.queue[1:]
		fault = &f
	} else if s.rule != nil {
		fault = s.rule(c)
	}
	s.mu.Unlock()

	if fault != nil && fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	// Every path records the call before it answers: a client that has its
	// answer must find its call in Calls.
	if fault != nil && (fault.Code != "" || fault.Status != 0 || fault.Body != "") {
		c.Status, c.ErrorCode = faultOutcome(*fault)
		s.record(c)
		if fault.Echo {
			fault.Message = fmt.Sprintf("%s; request was: %s (Authorization: %s, X-Amz-Security-Token: %s)",
				cmp.Or(fault.Message, defaultMessage(c.ErrorCode)), body, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token"))
		}
		sendFault(w, *fault)
		return
	}

	status, code, msg := s.authorize(r, body, &c)
	if code != "" {
		c.Status, c.ErrorCode = status, code
		s.record(c)
		writeError(w, status, code, msg, senderOrReceiver(status))
		return
	}
	if code, msg := validate(c); code != "" {
		c.Status, c.ErrorCode = http.StatusBadRequest, code
		s.record(c)
		writeError(w, http.StatusBadRequest, code, msg, "Sender")
		return
	}

	creds := s.issue(c)
	s.mu.Lock()
	tamper := s.tamper
	s.mu.Unlock()
	if tamper != nil {
		creds = tamper(c, creds)
	}
	c.Issued = &creds // what was sent, tampered or not
	c.Status = http.StatusOK
	s.record(c)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", requestID())
	io.WriteString(w, s.successBody(c, creds))
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

var (
	tagMember    = regexp.MustCompile(`^Tags\.member\.(\d+)\.(Key|Value)$`)
	policyMember = regexp.MustCompile(`^PolicyArns\.member\.(\d+)\.arn$`)
)

func parseCall(form url.Values) Call {
	c := Call{
		Action:           form.Get("Action"),
		RoleArn:          form.Get("RoleArn"),
		RoleSessionName:  form.Get("RoleSessionName"),
		ExternalID:       form.Get("ExternalId"),
		SourceIdentity:   form.Get("SourceIdentity"),
		WebIdentityToken: form.Get("WebIdentityToken"),
		Policy:           form.Get("Policy"),
	}
	if d, err := strconv.ParseInt(form.Get("DurationSeconds"), 10, 32); err == nil {
		c.DurationSeconds = int32(d)
	}
	keys, values := map[string]string{}, map[string]string{}
	policies := map[int]string{}
	for k, v := range form {
		if m := policyMember.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[1])
			policies[n] = v[0]
		}
		if m := tagMember.FindStringSubmatch(k); m != nil {
			if m[2] == "Key" {
				keys[m[1]] = v[0]
			} else {
				values[m[1]] = v[0]
			}
		}
		if strings.HasPrefix(k, "TransitiveTagKeys.member.") {
			c.TransitiveTagKeys = append(c.TransitiveTagKeys, v[0])
		}
	}
	if len(keys) > 0 {
		c.Tags = map[string]string{}
		for n, k := range keys {
			c.Tags[k] = values[n]
		}
	}
	sort.Strings(c.TransitiveTagKeys)
	for _, n := range slices.Sorted(maps.Keys(policies)) {
		c.PolicyArns = append(c.PolicyArns, policies[n])
	}
	return c
}

// authorize applies STS's caller checks and fills c.SignedBy.
func (s *Server) authorize(r *http.Request, body []byte, c *Call) (status int, code, msg string) {
	auth := r.Header.Get("Authorization")
	switch c.Action {
	case ActionAssumeRoleWithWebIdentity:
		if auth != "" {
			// Real STS accepts a signed call too, but a web-identity client
			// that signs has picked up credentials it should not have.
			return http.StatusBadRequest, CodeValidationError, "ststest: AssumeRoleWithWebIdentity must be anonymous (unsigned)"
		}
		if c.WebIdentityToken == "" {
			return http.StatusBadRequest, CodeValidationError, "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"
		}
		s.mu.Lock()
		rej := s.rejected[c.WebIdentityToken]
		s.mu.Unlock()
		switch rej {
		case "":
			return 0, "", ""
		case CodeExpiredToken:
			return http.StatusBadRequest, rej, "Token expired: current date/time 1700000000 must be before the expiration date/time 1600000000"
		case CodeInvalidIdentityToken:
			return http.StatusBadRequest, rej, "Incorrect token audience"
		default:
			return statusFor(rej), rej, "rejected by ststest"
		}
	case ActionAssumeRole:
		if auth == "" {
			return http.StatusForbidden, CodeMissingAuthToken, "Request is missing Authentication Token"
		}
		return s.verifySignature(r, body, c)
	default:
		return http.StatusBadRequest, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2011-06-15", c.Action)
	}
}

var authHeader = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// verifySignature recomputes the request's SigV4 signature with the secret
// and session token the server holds for the signing key.
func (s *Server) verifySignature(r *http.Request, body []byte, c *Call) (int, string, string) {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return http.StatusBadRequest, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters"
	}
	akid, region, service, signedHeaders := m[1], m[3], m[4], strings.Split(m[5], ";")
	c.SignedBy = akid
	s.mu.Lock()
	key, ok := s.keys[akid]
	now := s.now()
	s.mu.Unlock()
	if !ok {
		return http.StatusForbidden, CodeInvalidClientTokenID, "The security token included in the request is invalid."
	}
	if service != "sts" {
		return http.StatusForbidden, CodeSignatureDoesNotMatch, "Credential should be scoped to correct service: 'sts'."
	}
	if r.Header.Get("X-Amz-Security-Token") != key.SessionToken {
		return http.StatusForbidden, CodeInvalidClientTokenID, "The security token included in the request is invalid."
	}
	signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return http.StatusBadRequest, "IncompleteSignature", "missing or malformed X-Amz-Date"
	}

	// Rebuild the request from exactly the headers the client signed; the
	// transport may add others (Accept-Encoding) after signing.
	re, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	re.Host = r.Host
	re.ContentLength = int64(len(body))
	re.Header = http.Header{}
	for _, h := range signedHeaders {
		if h == "host" || h == "content-length" {
			continue
		}
		re.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{
		AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, SessionToken: key.SessionToken,
	}, re, hex.EncodeToString(sum[:]), service, region, signingTime)
	if err != nil {
		return http.StatusInternalServerError, CodeInternalFailure, "ststest: signer: " + err.Error()
	}
	if re.Header.Get("Authorization") != r.Header.Get("Authorization") {
		return http.StatusForbidden, CodeSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	if !key.Expiration.IsZero() && !now.Before(key.Expiration) {
		return http.StatusForbidden, CodeExpiredCallerToken, "The security token included in the request is expired"
	}
	if key.SessionToken != "" && c.DurationSeconds > 3600 {
		return http.StatusBadRequest, CodeValidationError, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
	}
	return 0, "", ""
}

var (
	roleARN     = regexp.MustCompile(`^arn:[\w-]+:iam::\d{12}:role/[\w+=,.@/-]+$`)
	sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// validate applies STS's parameter constraints.
func validate(c Call) (code, msg string) {
	if !roleARN.MatchString(c.RoleArn) {
		return CodeValidationError, fmt.Sprintf("%s is invalid", c.RoleArn)
	}
	if !sessionName.MatchString(c.RoleSessionName) {
		return CodeValidationError, fmt.Sprintf("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", c.RoleSessionName)
	}
	if c.DurationSeconds != 0 && (c.DurationSeconds < 900 || c.DurationSeconds > 43200) {
		return CodeValidationError, fmt.Sprintf("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", c.DurationSeconds)
	}
	// The session policy constraints of the STS API: Policy 1-2048
	// characters, at most 10 PolicyArns, and a policy that is a JSON object.
	if n := len([]rune(c.Policy)); n > 2048 {
		return CodeValidationError, fmt.Sprintf("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048 (got %d)", n)
	}
	if len(c.PolicyArns) > 10 {
		return CodeValidationError, "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"
	}
	if c.Policy != "" && !isJSONObject(c.Policy) {
		return CodeMalformedPolicy, "Syntax errors in policy."
	}
	return "", ""
}

func isJSONObject(s string) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal([]byte(s), &m) == nil && m != nil
}

func (s *Server) issue(c Call) Credentials {
	d := time.Duration(c.DurationSeconds) * time.Second
	if d == 0 {
		d = time.Hour
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lifetime != 0 {
		d = s.lifetime
	}
	cr := Credentials{
		AccessKeyID:     "ASIA" + strings.ToUpper(randHex(8)),
		SecretAccessKey: randHex(20),
		SessionToken:    "FwoGZXIvYXdzE" + randHex(48),
		Expiration:      s.now().Add(d).UTC().Truncate(time.Second),
	}
	s.keys[cr.AccessKeyID] = cr
	return cr
}

const ns = "https://sts.amazonaws.com/doc/2011-06-15/"

func (s *Server) successBody(c Call, cr Credentials) string {
	role := c.RoleArn[strings.LastIndex(c.RoleArn, "/")+1:]
	partition := strings.Split(c.RoleArn, ":")[1]
	account := strings.Split(c.RoleArn, ":")[4]
	type xmlCreds struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	}
	type assumedRoleUser struct {
		Arn           string
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	type result struct {
		Credentials                 xmlCreds
		AssumedRoleUser             assumedRoleUser
		PackedPolicySize            *int   `xml:",omitempty"`
		SubjectFromWebIdentityToken string `xml:",omitempty"`
		Audience                    string `xml:",omitempty"`
		Provider                    string `xml:",omitempty"`
		SourceIdentity              string `xml:",omitempty"`
	}
	res := result{
		Credentials: xmlCreds{cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, cr.Expiration.Format(time.RFC3339)},
		AssumedRoleUser: assumedRoleUser{
			Arn:           fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, account, role, c.RoleSessionName),
			AssumedRoleID: "AROA" + strings.ToUpper(randHex(8)) + ":" + c.RoleSessionName,
		},
		SourceIdentity: c.SourceIdentity,
	}
	if len(c.Tags) > 0 || c.Policy != "" || len(c.PolicyArns) > 0 {
		// STS reports how full the packed policies and tags are, in
		// percent; a stand-in that grows with what was sent.
		n := 6 + len(c.Policy)/40 + 2*len(c.PolicyArns)
		res.PackedPolicySize = &n
	}
	if c.Action == ActionAssumeRoleWithWebIdentity {
		res.SubjectFromWebIdentityToken = "system:serviceaccount:default:app"
		res.Audience = "sts.amazonaws.com"
		res.Provider = "arn:aws:iam::" + s.account + ":oidc-provider/oidc.example.test"
	}
	inner, _ := xml.MarshalIndent(res, "  ", "  ")
	resultTag := c.Action + "Result"
	innerStr := strings.Replace(string(inner), "<result>", "<"+resultTag+">", 1)
	innerStr = strings.Replace(innerStr, "</result>", "</"+resultTag+">", 1)
	return fmt.Sprintf("<%sResponse xmlns=%q>\n  %s\n  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n",
		c.Action, ns, innerStr, requestID(), c.Action)
}

func statusFor(code string) int {
	switch code {
	case CodeAccessDenied, CodeSignatureDoesNotMatch, CodeInvalidClientTokenID, CodeMissingAuthToken, CodeExpiredCallerToken:
		return http.StatusForbidden
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	case CodeInternalFailure:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

func senderOrReceiver(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// faultOutcome is the HTTP status and STS error code a fault answers with.
func faultOutcome(f Fault) (status int, code string) {
	switch {
	case f.Body != "":
		if f.Status == 0 {
			return http.StatusOK, ""
		}
		return f.Status, ""
	case f.Code != "":
		if f.Status == 0 {
			return statusFor(f.Code), f.Code
		}
		return f.Status, f.Code
	default:
		return f.Status, ""
	}
}

func sendFault(w http.ResponseWriter, f Fault) {
	status, code := faultOutcome(f)
	switch {
	case f.Body != "":
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		io.WriteString(w, f.Body)
	case code != "":
		msg := f.Message
		if msg == "" {
			msg = defaultMessage(code)
		}
		writeError(w, status, code, msg, senderOrReceiver(status))
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status))
	}
}

func defaultMessage(code string) string {
	switch code {
	case CodeAccessDenied:
		return "User: arn:aws:sts::123456789012:assumed-role/web/ns.pod is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/target"
	case CodeThrottling:
		return "Rate exceeded"
	case CodeInvalidIdentityToken:
		return "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
	case CodeExpiredToken:
		return "Token expired: current date/time 1700000000 must be before the expiration date/time 1600000000"
	case CodeExpiredCallerToken:
		return "The security token included in the request is expired"
	case CodeServiceUnavailable:
		return "Service is unable to handle request."
	default:
		return code
	}
}

// writeError sends STS's error document.
func writeError(w http.ResponseWriter, status int, code, msg, typ string) {
	type errorBody struct {
		Type    string
		Code    string
		Message string
	}
	type errorResponse struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		XMLNS     string   `xml:"xmlns,attr"`
		Error     errorBody
		RequestID string `xml:"RequestId"`
	}
	b, _ := xml.MarshalIndent(errorResponse{XMLNS: ns, Error: errorBody{typ, code, msg}, RequestID: requestID()}, "", "  ")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID() string {
	h := randHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
