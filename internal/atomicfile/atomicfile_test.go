package atomicfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rolechain/rolechain/internal/atomicfile"
)

func TestWriteSetsModeDespiteUmaskAndLeavesNoTempFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "credentials")
	if err := atomicfile.Write(p, []byte("x"), 0o640, os.Getgid()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getgid() {
		t.Errorf("gid = %d, want %d", gid, os.Getgid())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
}

func TestWriteFailureLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "credentials")
	os.WriteFile(p, []byte("old"), 0o644)
	// rename(2) cannot replace a non-empty directory: the last step fails.
	target := filepath.Join(dir, "isdir")
	os.MkdirAll(filepath.Join(target, "child"), 0o755)
	if err := atomicfile.Write(target, []byte("new"), 0o644, -1); err == nil {
		t.Fatal("renaming a file over a non-empty directory succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("unrelated file changed: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// Readers racing a writer see one whole version or the other, never a mix
// or a truncated file.
func TestConcurrentReadersNeverSeeAPartialFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "credentials")
	a := bytes.Repeat([]byte("a"), 256<<10)
	b := bytes.Repeat([]byte("b"), 256<<10)
	if err := atomicfile.Write(p, a, 0o644, -1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := atomicfile.Write(p, data, 0o644, -1); err != nil {
				t.Error(err)
				return
			}
		}
		close(done)
	}()
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Fatal("no reads raced the writer")
			}
			return
		default:
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read %d bytes that are neither version", len(got))
		}
		reads++
	}
}
