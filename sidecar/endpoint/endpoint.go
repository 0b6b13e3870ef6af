// Package endpoint serves credentials over the container-credentials
// protocol, the one EKS Pod Identity uses: an SDK configured with
// AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:<port>/v1/credentials/<profile>
// and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<output dir>/endpoint-token
// sends GET with the token in the Authorization header and gets
//
//	{"AccessKeyId": …, "SecretAccessKey": …, "Token": …, "Expiration": RFC 3339}
//
// Every current SDK refreshes from it before Expiration, unlike a keys file
// that the Go v2 SDK and botocore read once.
package endpoint

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rolechain/rolechain/sidecar/chain"
)

// PathPrefix is followed by the profile name.
const PathPrefix = "/v1/credentials/"

// Store holds the current credentials of each profile. It is a
// refresh.Sink; the zero value is not usable, use NewStore.
type Store struct {
	mu sync.RWMutex
	m  map[string]chain.Credentials
	// withdrawn remembers when a profile's withdrawn credentials expire,
	// so that a client hears "expired", not "not yet".
	withdrawn map[string]time.Time
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{m: map[string]chain.Credentials{}, withdrawn: map[string]time.Time{}}
}

// Publish sets a profile's credentials.
func (s *Store) Publish(profile string, c chain.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[profile] = c
	delete(s.withdrawn, profile)
	return nil
}

// Withdraw forgets a profile's credentials.
func (s *Store) Withdraw(profile string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.m[profile]; ok {
		s.withdrawn[profile] = c.Expiration
	}
	delete(s.m, profile)
	return nil
}

// get returns a profile's credentials, or, when it has none, the
// expiration of those withdrawn last (zero if it never had any).
func (s *Store) get(profile string) (c chain.Credentials, ok bool, withdrawn time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok = s.m[profile]
	return c, ok, s.withdrawn[profile]
}

// NewToken returns a random authorization token (256 bits, hex).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Handler answers credential requests for the profiles in Store.
//
//   - 401 without the right Authorization header (compared in constant
//     time, over hashes so that not even the length leaks);
//   - 404 for a path that is not /v1/credentials/<known profile>;
//   - 503 while a known profile has no valid credentials (SDKs retry):
//     "no valid credentials yet" before the first, "expired" after;
//   - 405 for anything but GET.
type Handler struct {
	Store *Store
	// Token is the expected Authorization header value.
	Token string
	// Profiles are the names served (others get 404).
	Profiles []string
	// Now is the clock deciding expiry (nil: time.Now).
	Now func() time.Time
}

// Response is the container-credentials JSON body.
type Response struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	want := sha256.Sum256([]byte(h.Token))
	got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
	if h.Token == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		writeError(w, http.StatusUnauthorized, "missing or wrong Authorization token")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "only GET")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || !h.serves(name) {
		writeError(w, http.StatusNotFound, "no such profile; paths are "+PathPrefix+"<profile>")
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	c, ok, withdrawn := h.Store.get(name)
	switch {
	case ok && !now().Before(c.Expiration):
		withdrawn = c.Expiration
		fallthrough
	case !ok && !withdrawn.IsZero():
		writeError(w, http.StatusServiceUnavailable, "credentials expired at "+withdrawn.UTC().Format(time.RFC3339)+" and could not be refreshed yet; the sidecar's log says why")
		return
	case !ok:
		writeError(w, http.StatusServiceUnavailable, "no valid credentials yet")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Response{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration.UTC().Format(time.RFC3339)})
}

func (h *Handler) serves(name string) bool {
	for _, p := range h.Profiles {
		if p == name {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": http.StatusText(status), "message": msg})
}
