package atomicfile_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// One atomic writer: a second copy drifts (the webhook's certificates were
// replaced without a directory fsync, so a crash could bring back the old
// key with the new certificate). Outside this package no program code
// creates a temporary file to rename over another.
func TestNoOtherPackageRenamesFilesIntoPlace(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs(".")
	pattern := regexp.MustCompile(`\bos\.(Rename|CreateTemp)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == self || path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := pattern.Find(b); m != nil {
			rel, _ := filepath.Rel(root, path)
			t.Errorf("%s calls %s: write files through internal/atomicfile", rel, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
