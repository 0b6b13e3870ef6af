// Command nullwebhook is the floor of the admission benchmark: a Go HTTPS
// server on net/http and crypto/tls, as both webhooks measured use, that
// reads each AdmissionReview whole and allows it without looking at it.
// Its CPU per admission is what TLS, HTTP/1.1 and the Go runtime cost on
// the machine before any webhook logic.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"strconv"
)

const allowed = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}`

func main() {
	port := flag.Int("port", 0, "HTTPS port")
	cert := flag.String("tls-cert", "", "certificate file")
	key := flag.String("tls-key", "", "key file")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(allowed)))
		_, _ = io.WriteString(w, allowed)
	})
	log.Fatal(http.ListenAndServeTLS("127.0.0.1:"+strconv.Itoa(*port), *cert, *key, nil))
}
