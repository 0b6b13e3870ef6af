// Package harden makes the sidecar's process harder to read from the
// containers it shares a pod with.
package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NonDumpable clears the process's dumpable flag (prctl PR_SET_DUMPABLE 0)
// before the sidecar reads any secret. In a pod with shareProcessNamespace,
// a co-tenant container that runs as the sidecar's UID could otherwise
// read /proc/<pid>/mem, environ and root (the token through the sidecar's
// mounts) or ptrace it: the kernel grants those to the same UID only while
// the process is dumpable, and shows its /proc files as root's when it is
// not. It does not stop root with CAP_SYS_PTRACE, nor a container that
// mounts the token volume itself (the webhook keeps it to the sidecar).
func NonDumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}
