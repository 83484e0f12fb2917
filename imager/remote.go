package imager

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
)

// Remote is a target that is not a folder on this machine (an S3 bucket):
// a local staging folder stands for it. Images are streamed to it by a
// Sink of its own; every record written into the staging folder
// (WriteFileAtomic) is put there as well, and image files named in the
// staging folder are read back from it (OpenFiles).
type Remote interface {
	// Put stores data as the file at rel (slash-separated, relative to
	// the staging folder).
	Put(rel string, data []byte) error
	// Open reads the file at rel back from the remote.
	Open(rel string) (RemoteFile, error)
	// URL names rel on the remote, for records and messages.
	URL(rel string) string
	// Sink streams a raw image (split as RawSink) of size bytes into the
	// files base… of the staging folder dir (rel below the staging root).
	Sink(dir, rel, base string, split, size int64) (Sink, error)
	// ObjectSink streams one file, named name, of at most size bytes into
	// the staging folder dir (rel below the staging root): an E01 segment.
	// Finish completes it; what Write took is then the whole file.
	ObjectSink(dir, rel, name string, size int64) (Sink, error)
	// Settle makes the image file rel readable after a run that was cut
	// off (what the remote holds of it, from its first byte).
	Settle(rel string) error
	// Abandon drops every open (never completed) upload of a file whose
	// name begins with prefix, and says how many it dropped: the E01
	// segment a cut-off run was sending, which a resume writes anew.
	// Stored files are not touched.
	Abandon(prefix string) (int, error)
	// ResumeSink continues the raw image of Sink whose first offset
	// bytes the remote holds (Settle first).
	ResumeSink(dir, rel, base string, split, size, offset int64) (Sink, error)
	// Describe is the remote for the acquisition record.
	Describe() *StoreRecord
}

// StoreRecord is where an image went when it is not beside its record on
// a file system: acquisition.json's image.store.
type StoreRecord struct {
	URL      string `json:"url"`      // s3://BUCKET/PREFIX of the output directory
	Endpoint string `json:"endpoint"` // the server
	Region   string `json:"region,omitempty"`
	Security string `json:"security"`  // TLS version, how the certificate was trusted, its fingerprint; or PLAIN HTTP
	Upload   string `json:"upload"`    // how the image was sent
	ReadBack string `json:"read_back"` // how it is read back for verification
}

// RemoteFile is a file read back from a Remote.
type RemoteFile interface {
	io.ReaderAt
	io.Closer
	Size() int64
	Name() string
}

var remotes struct {
	sync.Mutex
	at map[string]Remote // staging folder (clean, absolute) → remote
}

// AttachRemote makes the staging folder dir stand for r until the returned
// function is called.
func AttachRemote(dir string, r Remote) (detach func(), err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("staging folder %s: %w", dir, err)
	}
	remotes.Lock()
	defer remotes.Unlock()
	if remotes.at == nil {
		remotes.at = map[string]Remote{}
	}
	remotes.at[abs] = r
	return func() {
		remotes.Lock()
		defer remotes.Unlock()
		delete(remotes.at, abs)
	}, nil
}

// RemoteOf is the remote whose staging folder holds path, and path
// relative to that folder (slash-separated); nil when path is local.
func RemoteOf(path string) (Remote, string) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, ""
	}
	remotes.Lock()
	defer remotes.Unlock()
	for dir, r := range remotes.at {
		rel, err := filepath.Rel(dir, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		return r, filepath.ToSlash(rel)
	}
	return nil, ""
}

// putRemote puts a file just written at path to its remote, if it has one.
func putRemote(path string, data []byte) error {
	r, rel := RemoteOf(path)
	if r == nil {
		return nil
	}
	if err := r.Put(rel, data); err != nil {
		return fmt.Errorf("store %s: %w", r.URL(rel), err)
	}
	return nil
}

// Where names an output folder for messages: its remote URL when it is a
// staging folder, else the folder.
func Where(dir string) string {
	if r, rel := RemoteOf(dir); r != nil {
		return r.URL(rel)
	}
	return dir
}
