package main

import (
	"fmt"
	"os"
	"time"

	"github.com/coldimage/coldimage/imager"
)

// SourceResult is one source's outcome in session.json.
type SourceResult = imager.SessionSource

// Session is session.json, beside the per-source folders: the same record
// the console UI writes.
type Session = imager.Session

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
