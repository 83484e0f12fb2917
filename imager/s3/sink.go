package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/coldimage/coldimage/imager"
)

// Sink streams a raw image into the store: one multipart upload per image
// file (split: one per piece), parts uploaded Uploads at a time from a
// bounded pool of buffers. A part that fails is sent again (Store.retry);
// the store checks each part's signed SHA-256 and x-amz-checksum-sha256,
// so a part damaged on the way is refused and re-sent, never stored.
type Sink struct {
	s        *Store
	dir, rel string // the staging folder and its path relative to the staging root
	base     string
	name     string // ObjectSink: the one file's name (else base's raw names)
	split    int64
	partSize int64
	ctx      context.Context
	cancel   context.CancelFunc
	pool     *bufPool      // the store's part buffers (or the sink's own, for larger parts)
	slots    chan struct{} // Uploads+1: the most buffers the sink holds at once
	buf      []byte        // the part being filled
	bufStart int64         // its stream offset
	given    int64         // stream bytes taken
	cur      *upload
	uploads  []*upload // every object started, in order
	wg       sync.WaitGroup
	once     sync.Once // release
	resumed  bool      // a continued image (ResumeSink): uploads without declared checksums
	mu       sync.Mutex
	err      error           // the first failure; every later call returns it
	done     map[int64]int64 // parts stored: stream start → end
	contig   int64           // stream bytes stored without a gap from byte 0
	marks    []int64         // stream bytes at each Sync not yet stored
	reached  int64           // the last mark stored
}

type upload struct {
	// checksums: the upload declared SHA-256 checksums, each part carries
	// x-amz-checksum-sha256. A continued upload (ResumeSink) does not: its
	// first part is a server-side copy, which carries none; its parts'
	// SHA-256 is still signed (x-amz-content-sha256), so a damaged part is
	// still refused.
	checksums bool
	name      string // file name (image.raw, image.raw.001, …)
	key       string
	id        string
	start     int64 // stream offset of the object's first byte
	next      int   // next part number
	mu        sync.Mutex
	parts     map[int]minio.CompletePart
	ends      map[int]int64 // part number → stream end
}

// Sink opens the image sink for the staging folder dir (rel below the
// staging root): raw, split every split bytes (0: one object) (imager.Remote).
func (s *Store) Sink(dir, rel, base string, split, size int64) (imager.Sink, error) {
	k, err := s.newSink(dir, rel, base, split, size)
	if err != nil {
		return nil, err
	}
	// The first object's upload is started now: a store that refuses
	// writes refuses before the first byte is read.
	if err := k.start(); err != nil {
		k.release()
		return nil, err
	}
	return k, nil
}

// ObjectSink streams one file named name, of at most size bytes, as one
// object (imager.Remote): an E01 segment. Its upload starts now.
func (s *Store) ObjectSink(dir, rel, name string, size int64) (imager.Sink, error) {
	k, err := s.newSink(dir, rel, "", 0, size)
	if err != nil {
		return nil, err
	}
	k.name = name
	if err := k.start(); err != nil {
		k.release()
		return nil, err
	}
	return k, nil
}

// newSink prepares a sink: its part size and buffers.
func (s *Store) newSink(dir, rel, base string, split, size int64) (*Sink, error) {
	part := s.cfg.PartSize
	// S3 takes at most 10,000 parts per object: large images get larger
	// parts (whole MiB).
	obj := size
	if split > 0 && split < size {
		obj = split
	}
	if need := (obj + maxParts - 1) / maxParts; need > part {
		part = (need + 1<<20 - 1) >> 20 << 20
	}
	ctx, cancel := context.WithCancel(s.ctx)
	k := &Sink{s: s, dir: dir, rel: rel, base: base, split: split, partSize: part, ctx: ctx, cancel: cancel,
		pool: s.pool, slots: make(chan struct{}, s.cfg.Uploads+1), done: map[int64]int64{}}
	if part != s.cfg.PartSize {
		k.pool = newBufPool(s.cfg.Uploads+1, part)
	}
	k.pool.open()
	return k, nil
}

// start begins the upload of the next image file.
func (k *Sink) start() error {
	name := k.name
	if name == "" {
		name = imager.RawFileName(k.base, k.split > 0, len(k.uploads))
	}
	u := &upload{name: name, key: k.s.loc.Key(path.Join(k.rel, name)), start: k.given, next: 1,
		parts: map[int]minio.CompletePart{}, ends: map[int]int64{}, checksums: !k.resumed && !k.s.noChecksums.Load()}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if u.checksums {
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": "SHA256"}
	}
	err := k.s.retry(k.ctx, "start the upload of "+k.s.URL(path.Join(k.rel, name)), func() error {
		var err error
		u.id, err = k.s.core.NewMultipartUpload(k.ctx, k.s.loc.Bucket, u.key, opts)
		if err != nil && u.checksums && checksumRefused(err) {
			// A store without x-amz-checksum: the parts carry Content-MD5.
			k.s.noChecksums.Store(true)
			u.checksums, opts.UserMetadata = false, nil
			u.id, err = k.s.core.NewMultipartUpload(k.ctx, k.s.loc.Bucket, u.key, opts)
		}
		return err
	})
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.cur = u
	k.uploads = append(k.uploads, u)
	k.mu.Unlock()
	return nil
}

func (k *Sink) failed() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

func (k *Sink) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.err = err
		k.cancel()
	}
}

// Write takes the stream; it blocks while every buffer is being uploaded.
func (k *Sink) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := k.failed(); err != nil {
			return n, err
		}
		if k.buf == nil {
			k.buf, k.bufStart = k.take(), k.given
		}
		room := k.partSize - int64(len(k.buf))
		if k.split > 0 {
			room = min(room, k.cur.start+k.split-k.given)
		}
		c := int(min(room, int64(len(p))))
		k.buf = append(k.buf, p[:c]...)
		k.given += int64(c)
		n += c
		p = p[c:]
		full := int64(len(k.buf)) == k.partSize
		objEnd := k.split > 0 && k.given == k.cur.start+k.split
		if full || objEnd {
			k.send()
		}
		if objEnd {
			if err := k.closeObject(k.cur); err != nil {
				return n, err
			}
			if err := k.start(); err != nil {
				k.fail(err)
				return n, err
			}
		}
	}
	return n, nil
}

func (u *upload) checksumHeader(d digests) http.Header {
	if !u.checksums {
		return nil
	}
	return http.Header{"X-Amz-Checksum-Sha256": {d.sha256b64}}
}

// take gets a part buffer: one of the sink's Uploads+1, from the pool.
func (k *Sink) take() []byte {
	k.slots <- struct{}{}
	return k.pool.take()
}

// give puts a part buffer back into the pool.
func (k *Sink) give(b []byte) {
	k.pool.give(b)
	<-k.slots
}

// bufPool hands out up to n buffers of size bytes, made only when none is
// free (a buffer given back is taken again before a new one is made).
type bufPool struct {
	size  int64
	free  chan []byte
	quota chan struct{}
	mu    sync.Mutex
	users int // sinks open
}

// open and close count the sinks using the pool: when the last closes,
// its buffers are let go (the verification that follows needs the memory).
func (p *bufPool) open() {
	p.mu.Lock()
	p.users++
	p.mu.Unlock()
}

func (p *bufPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.users--; p.users > 0 {
		return
	}
	for {
		select {
		case <-p.free:
			<-p.quota
		default:
			return
		}
	}
}

func newBufPool(n int, size int64) *bufPool {
	return &bufPool{size: size, free: make(chan []byte, n), quota: make(chan struct{}, n)}
}

func (p *bufPool) take() []byte {
	select {
	case b := <-p.free:
		return b[:0]
	default:
	}
	select {
	case b := <-p.free:
		return b[:0]
	case p.quota <- struct{}{}:
		return make([]byte, 0, p.size)
	}
}

func (p *bufPool) give(b []byte) { p.free <- b[:0] }

// send uploads the filled buffer as the current object's next part.
func (k *Sink) send() {
	u, b, start := k.cur, k.buf, k.bufStart
	k.buf = nil
	num := u.next
	u.next++
	end := start + int64(len(b))
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer k.give(b)
		// Without x-amz-checksum the part carries Content-MD5 too (the
		// store checks it besides the signed SHA-256).
		d := digest(b, !u.checksums && k.s.noChecksums.Load())
		var part minio.ObjectPart
		err := k.s.retry(k.ctx, fmt.Sprintf("upload part %d (bytes %d-%d) of %s", num, start-u.start, end-u.start-1, k.s.URL(path.Join(k.rel, u.name))), func() error {
			var err error
			part, err = k.s.core.PutObjectPart(k.ctx, k.s.loc.Bucket, u.key, u.id, num, bytes.NewReader(b), int64(len(b)), minio.PutObjectPartOptions{
				Md5Base64:    d.md5b64,
				Sha256Hex:    d.sha256hex,
				CustomHeader: u.checksumHeader(d),
			})
			return err
		})
		if err != nil {
			k.fail(err)
			return
		}
		cp := minio.CompletePart{PartNumber: num, ETag: part.ETag}
		if u.checksums {
			cp.ChecksumSHA256 = d.sha256b64
		}
		u.mu.Lock()
		u.parts[num] = cp
		u.ends[num] = end
		u.mu.Unlock()
		k.mu.Lock()
		k.done[start] = end
		for e, ok := k.done[k.contig]; ok; e, ok = k.done[k.contig] {
			delete(k.done, k.contig)
			k.contig = e
		}
		k.mu.Unlock()
	}()
}

// closeObject waits for an object's parts and completes its upload with
// the parts stored from its first on (all of them, unless one failed).
func (k *Sink) closeObject(u *upload) error {
	k.wg.Wait()
	u.mu.Lock()
	var parts []minio.CompletePart
	for i := 1; ; i++ {
		p, ok := u.parts[i]
		if !ok {
			break
		}
		parts = append(parts, p)
	}
	u.mu.Unlock()
	what := "complete the upload of " + k.s.URL(path.Join(k.rel, u.name))
	if len(parts) == 0 {
		// Nothing stored: an empty image file, or none at all.
		err := k.s.retry(context.WithoutCancel(k.ctx), "abandon the upload of "+k.s.URL(path.Join(k.rel, u.name)), func() error {
			return k.s.core.AbortMultipartUpload(context.WithoutCancel(k.ctx), k.s.loc.Bucket, u.key, u.id)
		})
		return err
	}
	return k.s.retry(context.WithoutCancel(k.ctx), what, func() error {
		_, err := k.s.core.CompleteMultipartUpload(context.WithoutCancel(k.ctx), k.s.loc.Bucket, u.key, u.id, parts, minio.PutObjectOptions{})
		return err
	})
}

// Finish sends the last part and completes every upload.
func (k *Sink) Finish(imager.Final) error {
	defer k.release()
	if err := k.failed(); err != nil {
		return err
	}
	if len(k.buf) > 0 {
		k.send()
	} else if k.buf != nil {
		k.give(k.buf)
		k.buf = nil
	}
	k.wg.Wait()
	if err := k.failed(); err != nil {
		return err
	}
	if k.given == k.cur.start && len(k.uploads) == 1 {
		// An empty image: one empty object.
		if err := k.closeObject(k.cur); err != nil {
			return err
		}
		return k.s.Put(path.Join(k.rel, k.cur.name), nil)
	}
	if k.given == k.cur.start && len(k.uploads) > 1 {
		// The split ended exactly at the last object's start: no such file.
		if err := k.closeObject(k.cur); err != nil {
			return err
		}
		k.mu.Lock()
		k.uploads = k.uploads[:len(k.uploads)-1]
		k.mu.Unlock()
	} else if err := k.closeObject(k.cur); err != nil {
		return err
	}
	k.cancel()
	return nil
}

// Abort keeps what the store holds: the current object is completed with
// the parts stored without a gap from its first (a partial image, as a
// file system keeps one), so the record can name and hash it.
func (k *Sink) Abort() error {
	k.fail(errors.New("aborted"))
	k.release()
	if k.cur == nil {
		return nil
	}
	err := k.closeObject(k.cur)
	k.cur.mu.Lock()
	_, stored := k.cur.parts[1]
	k.cur.mu.Unlock()
	empty := !stored
	if empty {
		k.mu.Lock()
		k.uploads = k.uploads[:len(k.uploads)-1]
		k.mu.Unlock()
	}
	return err
}

// release gives back every buffer the sink holds, once its uploads have
// ended, and leaves the pool.
func (k *Sink) release() {
	k.once.Do(func() {
		k.wg.Wait()
		defer k.cancel()
		if k.buf != nil {
			k.give(k.buf)
			k.buf = nil
		}
		k.pool.close()
	})
}

// Files lists the image files started, as paths in the staging folder.
func (k *Sink) Files() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, u := range k.uploads {
		out = append(out, filepath.Join(k.dir, u.name))
	}
	return out
}

// Sync marks the bytes taken so far: they are durable once every part up
// to them is stored (Durable). Parts are stored as they fill, so Sync
// waits for nothing (imager.LaggingSyncer).
func (k *Sink) Sync() error {
	if err := k.failed(); err != nil {
		return err
	}
	k.mu.Lock()
	k.marks = append(k.marks, k.given)
	k.mu.Unlock()
	return nil
}

// Durable is the last Sync mark whose bytes are all stored.
func (k *Sink) Durable() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.marks) > 0 && k.marks[0] <= k.contig {
		k.reached = k.marks[0]
		k.marks = k.marks[1:]
	}
	return k.reached
}
