package s3

import (
	"context"
	"fmt"
	"os"

	"github.com/coldimage/coldimage/imager"
)

// Staging is a local folder standing for the store's prefix
// (imager.AttachRemote): the records written into it are put into the
// store, the image files named in it are the store's objects.
type Staging struct {
	Dir    string
	st     *Store
	detach func()
}

// Stage makes a staging folder in parent (os.MkdirTemp's pattern; parent
// "" is the temporary folder) and attaches the store to it. With fetch,
// the records under the prefix that keep accepts (nil: all) are copied
// into it first (FetchRecords), so that a cut-off acquisition or session
// can be found and continued there.
func (s *Store) Stage(ctx context.Context, parent, pattern string, fetch bool, keep func(rel string) bool) (*Staging, error) {
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return nil, fmt.Errorf("staging folder for %s: %w", s.loc, err)
	}
	if fetch {
		if err := s.FetchRecords(ctx, dir, keep); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("read the records of %s: %w", s.loc, err)
		}
	}
	detach, err := imager.AttachRemote(dir, s)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Staging{Dir: dir, st: s, detach: detach}, nil
}

// Close detaches the folder and removes it when every record reached the
// store; else it is kept, and Close says how many did not.
func (g *Staging) Close() (notStored int64) {
	g.detach()
	if n := g.st.PutFailures(); n > 0 {
		return n
	}
	os.RemoveAll(g.Dir)
	return 0
}
