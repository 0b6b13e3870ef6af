// Package atomicfile replaces files so that a reader sees the old content
// or the new, never a part, even across a crash. It is the one writer of
// the sidecar's credentials and the webhook's certificates.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data so that concurrent readers see either the
// previous content or data, never a partial file, even across a crash:
//
//  1. create a temporary file in the same directory (rename is atomic only
//     within one filesystem);
//  2. write data;
//  3. chmod to mode, because the process umask filtered the create mode;
//  4. chown to gid when gid ≥ 0, so a group of app containers can read a
//     0640 file;
//  5. fsync the file, so the rename cannot reach the disk before the data;
//  6. rename over path;
//  7. fsync the directory, so the rename itself is durable.
//
// On any error the temporary file is removed and path is untouched.
func Write(path string, data []byte, mode os.FileMode, gid int) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// (1) A dot-prefixed name keeps globbing readers from picking it up.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil { // (2)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil { // (3)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if gid >= 0 { // (4)
		if err = f.Chown(-1, gid); err != nil {
			return fmt.Errorf("writing %s: setting group %d: %w", path, gid, err)
		}
	}
	if err = f.Sync(); err != nil { // (5)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil { // (6)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(dir) // (7)
}

// Remove removes path if it exists and makes the removal durable.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
