package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/coldimage/coldimage/imager"
)

// Settle makes the image file rel readable after a run that was cut off
// (a power loss leaves its multipart upload open): the latest open upload
// of rel is completed with the parts stored without a gap from the first,
// as Abort would have done, and older ones are abandoned. Without an open
// upload an object already there is left as it is (imager.Remote).
func (s *Store) Settle(rel string) error {
	ctx := s.ctx
	key := s.loc.Key(rel)
	uploads, err := s.openUploads("list the open uploads of "+s.URL(rel), key, func(k string) bool { return k == key })
	if err != nil || len(uploads) == 0 {
		return err
	}
	sort.Slice(uploads, func(i, j int) bool { return uploads[i].Initiated.Before(uploads[j].Initiated) })
	for _, u := range uploads[:len(uploads)-1] {
		if err := s.retry(ctx, "abandon an older upload of "+s.URL(rel), func() error {
			return s.core.AbortMultipartUpload(ctx, s.loc.Bucket, key, u.UploadID)
		}); err != nil {
			return err
		}
	}
	id := uploads[len(uploads)-1].UploadID
	parts, err := s.storedParts(ctx, key, id)
	if err != nil {
		return s.explain("list the parts of "+s.URL(rel), err)
	}
	if len(parts) == 0 {
		return s.retry(ctx, "abandon the empty upload of "+s.URL(rel), func() error {
			return s.core.AbortMultipartUpload(ctx, s.loc.Bucket, key, id)
		})
	}
	return s.retry(ctx, "complete the cut-off upload of "+s.URL(rel), func() error {
		_, err := s.core.CompleteMultipartUpload(ctx, s.loc.Bucket, key, id, parts, minio.PutObjectOptions{})
		return err
	})
}

// Abandon aborts every open multipart upload of a key that begins with
// the key of prefix (imager.Remote).
func (s *Store) Abandon(prefix string) (int, error) {
	ctx := s.ctx
	key := s.loc.Key(prefix)
	open, err := s.openUploads("list the open uploads under "+s.URL(prefix), key, func(k string) bool { return strings.HasPrefix(k, key) })
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range open {
		if err := s.retry(ctx, "abandon the cut-off upload of s3://"+s.loc.Bucket+"/"+u.Key, func() error {
			return s.core.AbortMultipartUpload(ctx, s.loc.Bucket, u.Key, u.UploadID)
		}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// openUploads lists the store's open multipart uploads under the key
// prefix, every page of them, keeping those whose key keep accepts (a
// server may ignore the prefix).
func (s *Store) openUploads(what, prefix string, keep func(key string) bool) ([]minio.ObjectMultipartInfo, error) {
	var open []minio.ObjectMultipartInfo
	err := s.retry(s.ctx, what, func() error {
		open = open[:0]
		keyMarker, idMarker := "", ""
		for {
			res, err := s.core.ListMultipartUploads(s.ctx, s.loc.Bucket, prefix, keyMarker, idMarker, "", 1000)
			if err != nil {
				return err
			}
			for _, u := range res.Uploads {
				if keep(u.Key) {
					open = append(open, u)
				}
			}
			if !res.IsTruncated || res.NextKeyMarker == "" && res.NextUploadIDMarker == "" {
				return nil
			}
			keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
		}
	})
	return open, err
}

// storedParts lists an upload's parts from part 1 while they follow each
// other.
func (s *Store) storedParts(ctx context.Context, key, id string) ([]minio.CompletePart, error) {
	var all []minio.ObjectPart
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.loc.Bucket, key, id, marker, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, res.ObjectParts...)
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	sort.Slice(all, func(i, j int) bool { return all[i].PartNumber < all[j].PartNumber })
	var out []minio.CompletePart
	for i, p := range all {
		if p.PartNumber != i+1 {
			break
		}
		out = append(out, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag, ChecksumSHA256: p.ChecksumSHA256})
	}
	return out, nil
}

// ResumeSink continues a raw image whose first offset bytes are in the
// store (Settle first): whole objects before offset stay as they are; the
// object holding offset is written again as a new upload whose first part
// is a server-side copy of its bytes before offset (read and sent again
// when fewer than S3's smallest part), so the store ends with the image
// an uninterrupted run makes (imager.Remote).
func (s *Store) ResumeSink(dir, rel, base string, split, size, offset int64) (imager.Sink, error) {
	k, err := s.newSink(dir, rel, base, split, size)
	if err != nil {
		return nil, err
	}
	idx, objStart := 0, int64(0)
	if split > 0 {
		idx = int(offset / split)
		objStart = int64(idx) * split
	}
	for i := range idx {
		name := imager.RawFileName(base, true, i)
		k.uploads = append(k.uploads, &upload{name: name, key: s.loc.Key(path.Join(rel, name)), start: int64(i) * split})
	}
	k.given, k.contig, k.reached = objStart, offset, offset
	k.resumed = true
	if err := k.start(); err != nil {
		k.release()
		return nil, err
	}
	k.given = offset
	n := offset - objStart
	if n == 0 {
		return k, nil
	}
	u := k.cur
	if n >= minPartSize {
		var cp minio.CompletePart
		err := s.retry(k.ctx, fmt.Sprintf("copy the first %d bytes of %s into its continued upload", n, s.URL(path.Join(rel, u.name))), func() error {
			var err error
			cp, err = s.core.CopyObjectPart(k.ctx, s.loc.Bucket, u.key, s.loc.Bucket, u.key, u.id, 1, 0, n, nil)
			return err
		})
		if err != nil {
			k.Abort()
			return nil, err
		}
		u.parts[1] = minio.CompletePart{PartNumber: 1, ETag: cp.ETag}
		u.ends[1] = offset
		u.next = 2
		return k, nil
	}
	// Too short for a part of its own: the bytes are read back and lead
	// the first part (stored again from the object's first byte).
	k.contig = objStart
	o, err := s.Open(path.Join(rel, u.name))
	if err == nil {
		k.buf, k.bufStart = k.take(), objStart
		k.buf = k.buf[:n]
		_, err = o.ReadAt(k.buf, 0)
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil {
		k.Abort()
		return nil, fmt.Errorf("read back the first %d bytes of %s: %w", n, s.URL(path.Join(rel, u.name)), err)
	}
	return k, nil
}

// FetchRecords copies the records under the prefix (every object but the
// image files, image.raw… and image.E01…) into the staging folder, those
// whose relative name keep accepts (nil: all), so that a cut-off
// acquisition or session can be read and continued there.
func (s *Store) FetchRecords(ctx context.Context, staging string, keep func(rel string) bool) error {
	names, err := s.List(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "image.raw") || strings.HasPrefix(base, "image.E") || !filepath.IsLocal(filepath.FromSlash(n)) {
			continue
		}
		if keep != nil && !keep(n) {
			continue
		}
		b, err := s.Get(ctx, n)
		if err != nil {
			return err
		}
		p := filepath.Join(staging, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
