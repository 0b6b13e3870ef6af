package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// TokenWatcher tells Loops that the web-identity token file was replaced.
//
// The kubelet updates a projected token by writing a new timestamped
// directory and renaming a "..data" symlink over the old one (the token
// file is itself a symlink to ..data/token). A watch on the token file
// would follow the old inode and go silent after the first rotation, so the
// watch is on the directory, and the events that count are the ones that
// make a new token visible: "..data" appearing, or the token file itself
// being created or written (a plain file, outside Kubernetes).
type TokenWatcher struct {
	w    *fsnotify.Watcher
	base string

	mu   sync.Mutex
	subs []chan struct{}
}

// NewTokenWatcher watches the directory of tokenFile. It fails if the
// directory cannot be watched.
func NewTokenWatcher(tokenFile string) (*TokenWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching token directory: %w", err)
	}
	if err := w.Add(filepath.Dir(tokenFile)); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching token directory %s: %w", filepath.Dir(tokenFile), err)
	}
	return &TokenWatcher{w: w, base: filepath.Base(tokenFile)}, nil
}

// Subscribe returns a channel that receives (without blocking the watcher;
// signals coalesce) after each rotation. Call before Run.
func (t *TokenWatcher) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	t.mu.Lock()
	t.subs = append(t.subs, ch)
	t.mu.Unlock()
	return ch
}

// Run delivers events until ctx is done, then closes the watch.
func (t *TokenWatcher) Run(ctx context.Context, log *slog.Logger) {
	defer t.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-t.w.Events:
			if !ok {
				return
			}
			if t.isRotation(ev) {
				t.notify()
			}
		case err, ok := <-t.w.Errors:
			if !ok {
				return
			}
			log.Warn("token directory watch error", "error", err.Error())
		}
	}
}

func (t *TokenWatcher) isRotation(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	switch {
	case name == "..data":
		return ev.Has(fsnotify.Create)
	case name == t.base:
		return ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write)
	}
	return false
}

func (t *TokenWatcher) notify() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
