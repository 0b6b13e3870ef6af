// Package benchenv is what the benchmarks under test/bench share to put a
// webhook in front of a real API server: envtest's kube-apiserver and etcd
// with a kubeconfig on disk, a throw-away CA with serving certificates for
// 127.0.0.1, and free loopback ports. Only the setup lives here; what each
// benchmark measures stays in its own command.
package benchenv

import "net"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (the
// webhook under test is started on it; another process may take it first,
// which a benchmark then reports as a start failure).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
