package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/coldimage/coldimage/imager"
)

var _ imager.Remote = (*Store)(nil)

// Store is one s3://BUCKET/PREFIX on one endpoint.
type Store struct {
	loc      Location
	cfg      Config
	core     *minio.Core
	endpoint string
	ctx      context.Context
	// pool holds the part buffers every image sink of the store draws
	// from: memory stays within Config.Budget however many sources are
	// imaged at once.
	pool *bufPool

	mu       sync.Mutex
	security string // what the connection was, for the record

	putFailures atomic.Int64
	// noChecksums: the store refused x-amz-checksum-sha256 (some S3
	// implementations do not take it). Bodies then carry Content-MD5
	// beside their signed SHA-256, which every SigV4 store checks.
	noChecksums atomic.Bool
	// down: a request gave up after RetryFor. Until one succeeds, the
	// next requests are tried once each: the records written after a
	// failed image (each would wait RetryFor again) fail at once, and the
	// run gets to waiting for the store.
	down atomic.Bool
}

// Open prepares a store; nothing is sent until Check or a write. ctx bounds
// every request the store makes.
func Open(ctx context.Context, rawURL string, cfg Config) (*Store, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	u, err := cfg.endpointURL()
	if err != nil {
		return nil, err
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (coldimage.s3.access-key and coldimage.s3.secret-key on the appliance)")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("S3 part size %d: at least %d bytes", cfg.PartSize, minPartSize)
	}
	if cfg.Uploads <= 0 {
		cfg.Uploads = DefaultUploads
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = DefaultRetryFor
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	s := &Store{loc: loc, cfg: cfg, endpoint: u.String(), ctx: ctx}
	s.pool = newBufPool(max(int(cfg.Budget/cfg.PartSize), cfg.Uploads+1), cfg.PartSize)
	tr, err := s.transport(u.Scheme == "https")
	if err != nil {
		return nil, err
	}
	region := s.region()
	// One request, one try: Store retries itself, with a bound in time
	// (RetryFor), not minio-go's ten quick tries.
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       region,
		Transport:    tr,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", s.endpoint, err)
	}
	s.core = core
	if u.Scheme == "http" {
		s.security = "PLAIN HTTP — NOT ENCRYPTED (--s3-insecure)"
	}
	return s, nil
}

// transport verifies the endpoint's certificate against the CA bundle (or
// the system's roots), or against the pin alone, and notes what it saw.
func (s *Store) transport(secure bool) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 nil, // never through a proxy the environment names
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: 5 * time.Second,
		DisableCompression:    true,
	}
	if !secure {
		return tr, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	how := "system trust store"
	if s.cfg.CABundle != "" || s.cfg.CAPEM != nil {
		pem := s.cfg.CAPEM
		if pem == nil {
			var err error
			if pem, err = os.ReadFile(s.cfg.CABundle); err != nil {
				return nil, fmt.Errorf("CA bundle: %w", err)
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", s.cfg.CABundle)
		}
		cfg.RootCAs = pool
		how = "CA bundle " + s.cfg.CABundle
	}
	var pin []byte
	if s.cfg.Pin != "" {
		var err error
		if pin, err = pinHash(s.cfg.Pin); err != nil {
			return nil, err
		}
		// The pinned certificate is trusted and no other: the chain is
		// not asked of any authority.
		cfg.InsecureSkipVerify = true
		how = "pinned certificate"
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if pin != nil && !bytes.Equal(sum[:], pin) {
			return fmt.Errorf("the server's certificate is sha256:%x, not the pinned %s", sum, s.cfg.Pin)
		}
		s.mu.Lock()
		s.security = fmt.Sprintf("%s, certificate verified (%s), server certificate sha256:%x", tls.VersionName(cs.Version), how, sum)
		s.mu.Unlock()
		return nil
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

func (s *Store) region() string {
	if s.cfg.Region == "" {
		return "us-east-1"
	}
	return s.cfg.Region
}

// Security is what the connection was (TLS version, how the certificate
// was trusted and its fingerprint, or PLAIN HTTP).
func (s *Store) Security() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.security
}

// Check is the preflight: the endpoint answers, the credentials are
// accepted, the bucket exists, and — when empty is set (an OUTDIR) —
// nothing is stored under the prefix yet (coldimage never overwrites). The
// appliance's sessions share a prefix: each goes into a folder of its own
// (<stamp>_<host>).
func (s *Store) Check(ctx context.Context, empty bool) error {
	res, err := s.core.ListObjectsV2(s.loc.Bucket, s.loc.folder(), "", "", "", 1)
	if err != nil {
		return s.explain("list "+s.loc.String(), err)
	}
	if empty && len(res.Contents) > 0 {
		return fmt.Errorf("%s is not empty (holds %s); coldimage never overwrites", s.loc, res.Contents[0].Key)
	}
	return nil
}

// explain says what a failed request means for the examiner.
func (s *Store) explain(what string, err error) error {
	resp := minio.ToErrorResponse(err)
	hint := ""
	switch resp.Code {
	case "NoSuchBucket":
		hint = "no bucket " + s.loc.Bucket + " on " + s.endpoint
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidSecurity":
		hint = "the store refused these credentials (" + resp.Code + ")"
	}
	var cv *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &cv), errors.As(err, &ue), errors.As(err, &he):
		hint = "the server's certificate is not trusted (AWS_CA_BUNDLE / coldimage.tls.ca, or coldimage.tls.pin)"
	case strings.Contains(err.Error(), "pinned"):
		hint = "the server's certificate is not the pinned one"
	case strings.Contains(err.Error(), "connection refused"):
		hint = "nothing answers at " + s.endpoint
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		hint = "the endpoint speaks plain http"
	}
	if hint != "" {
		return fmt.Errorf("%s at %s: %s: %w", what, s.endpoint, hint, err)
	}
	return fmt.Errorf("%s at %s: %w", what, s.endpoint, err)
}

// retry runs op until it succeeds, a permanent error, the context's end or
// RetryFor after the first failure, waiting 0.5 s, 1 s, 2 s … 15 s between.
// A body the store found damaged (its digest or signature did not match)
// is sent again up to maxDamaged times: once is a bit flipped on the way,
// every time is something else.
func (s *Store) retry(ctx context.Context, what string, op func() error) error {
	var first time.Time
	wait := 500 * time.Millisecond
	damaged := 0
	for try := 1; ; try++ {
		err := op()
		if err == nil {
			s.down.Store(false)
			return nil
		}
		if isDamaged(err) {
			damaged++
			if damaged >= maxDamaged {
				return s.explain(fmt.Sprintf("%s (refused as damaged %d times)", what, damaged), err)
			}
		} else if permanent(err) || ctx.Err() != nil {
			return s.explain(what, err)
		} else if s.down.Load() {
			return s.explain(fmt.Sprintf("%s (tried once: the store failed for %s before)", what, s.cfg.RetryFor), err)
		}
		if first.IsZero() {
			first = time.Now()
		}
		if time.Since(first) > s.cfg.RetryFor {
			s.down.Store(true)
			return s.explain(fmt.Sprintf("%s (%d tries in %s)", what, try, time.Since(first).Round(time.Second)), err)
		}
		select {
		case <-ctx.Done():
			return s.explain(what, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}

const maxDamaged = 5

// checksumRefused says whether the store refused a request for its
// x-amz-checksum header (a store that does not implement it).
func checksumRefused(err error) bool {
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusNotImplemented, resp.Code == "NotImplemented":
		return true
	case resp.Code == "InvalidArgument", resp.Code == "InvalidRequest", resp.StatusCode == http.StatusBadRequest:
		return strings.Contains(strings.ToLower(resp.Message), "checksum")
	}
	return false
}

// isDamaged says whether the store refused a body because it did not match
// its digests: versitygw says SignatureDoesNotMatch when the signed
// SHA-256 differs, others BadDigest or XAmzContentSHA256Mismatch.
func isDamaged(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch", "SignatureDoesNotMatch":
		return true
	}
	return false
}

// permanent errors are not retried: asking again gets the same answer.
// A refusal of the request itself (HTTP 4xx) is permanent but for a
// timeout or throttling.
func permanent(err error) bool {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchBucket", "NoSuchUpload", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
		"InvalidBucketName", "EntityTooSmall", "EntityTooLarge", "InvalidPart", "InvalidPartOrder", "NotImplemented":
		return true
	case "RequestTimeout", "SlowDown", "RequestTimeTooSkewed":
		return false
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return true
	}
	var cv *tls.CertificateVerificationError
	var stop backoffStop
	return errors.As(err, &stop) || errors.As(err, &cv) || strings.Contains(err.Error(), "pinned")
}

// digests are what a request carries so the store can check its body:
// Content-MD5 and the SHA-256 (hex for the signature, base64 for the
// x-amz-checksum-sha256 header).
type digests struct{ md5b64, sha256hex, sha256b64 string }

// digest hashes a body: SHA-256 always (it is signed, and sent as
// x-amz-checksum-sha256), MD5 only when asked (Content-MD5: the small
// records; an image part's SHA-256 already covers it, and a second pass
// over every part would cost CPU the imaging needs).
func digest(b []byte, withMD5 bool) digests {
	h := sha256.Sum256(b)
	d := digests{sha256hex: hex.EncodeToString(h[:]), sha256b64: base64.StdEncoding.EncodeToString(h[:])}
	if withMD5 {
		m := md5.Sum(b)
		d.md5b64 = base64.StdEncoding.EncodeToString(m[:])
	}
	return d
}

// Put stores data as the object for rel (imager.Remote).
func (s *Store) Put(rel string, data []byte) error {
	key := s.loc.Key(rel)
	d := digest(data, true)
	err := s.retry(s.ctx, "put "+s.URL(rel), func() error {
		opts := minio.PutObjectOptions{ContentType: contentType(rel)}
		if !s.noChecksums.Load() {
			opts.UserMetadata = map[string]string{"X-Amz-Checksum-Sha256": d.sha256b64}
		}
		_, err := s.core.PutObject(s.ctx, s.loc.Bucket, key, bytes.NewReader(data), int64(len(data)), d.md5b64, d.sha256hex, opts)
		if err != nil && opts.UserMetadata != nil && checksumRefused(err) {
			s.noChecksums.Store(true) // and again without: Content-MD5 and the signed SHA-256 remain
			opts.UserMetadata = nil
			_, err = s.core.PutObject(s.ctx, s.loc.Bucket, key, bytes.NewReader(data), int64(len(data)), d.md5b64, d.sha256hex, opts)
		}
		return err
	})
	if err != nil {
		s.putFailures.Add(1)
	}
	return err
}

// PutFailures counts the records that did not reach the store.
func (s *Store) PutFailures() int64 { return s.putFailures.Load() }

func contentType(rel string) string {
	switch {
	case strings.HasSuffix(rel, ".json"):
		return "application/json"
	case strings.HasSuffix(rel, ".txt"), strings.Contains(rel, "image.sha"), strings.HasSuffix(rel, "image.md5"), strings.HasSuffix(rel, "image.blake3"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// URL names rel in the store (imager.Remote).
func (s *Store) URL(rel string) string {
	return "s3://" + s.loc.Bucket + "/" + s.loc.Key(rel)
}

// Describe is the target for the record (imager.Remote).
func (s *Store) Describe() *imager.StoreRecord {
	how := "each with its SHA-256 signed and as x-amz-checksum-sha256 (records: Content-MD5 too)"
	if s.noChecksums.Load() {
		how = "each with its SHA-256 signed and its Content-MD5 (the store refused x-amz-checksum-sha256)"
	}
	return &imager.StoreRecord{
		URL: s.loc.String(), Endpoint: s.endpoint, Region: s.region(), Security: s.Security(),
		Upload:   fmt.Sprintf("multipart, %s parts, up to %d at a time per image, %s", imager.HumanBytes(s.cfg.PartSize), s.cfg.Uploads, how),
		ReadBack: "ranged GETs from the store",
	}
}

// Open reads rel back from the store (imager.Remote).
func (s *Store) Open(rel string) (imager.RemoteFile, error) {
	key := s.loc.Key(rel)
	var info minio.ObjectInfo
	missing := false
	err := s.retry(s.ctx, "stat "+s.URL(rel), func() error {
		var err error
		info, err = s.core.StatObject(s.ctx, s.loc.Bucket, key, minio.StatObjectOptions{})
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			missing = true
			return backoffStop{err}
		}
		return err
	})
	if missing {
		return nil, fmt.Errorf("%s: %w", s.URL(rel), fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	return &object{s: s, key: key, name: s.URL(rel), size: info.Size, etag: info.ETag}, nil
}

// backoffStop wraps an error that is not retried.
type backoffStop struct{ error }

func (b backoffStop) Unwrap() error { return b.error }

// object reads one object with ranged GETs (ReadAt), each checked against
// the object's ETag so that a replaced object is not read as the same.
// Small reads (an E01 reader's chunks, which its workers ask for out of
// order, and section descriptors) go through two read-ahead windows: a
// miss fetches at least minAhead bytes, doubled up to maxAhead while the
// reads go on from the last window.
type object struct {
	s         *Store
	key, name string
	size      int64
	etag      string

	mu       sync.Mutex
	cur, old window
	ahead    int64 // the next window's size
}

type window struct {
	off int64
	b   []byte
}

func (w *window) holds(off, end int64) bool { return off >= w.off && end <= w.off+int64(len(w.b)) }

const (
	minAhead = 64 << 10
	maxAhead = 4 << 20
)

func (o *object) Size() int64  { return o.size }
func (o *object) Name() string { return o.name }
func (o *object) Close() error {
	o.mu.Lock()
	o.cur, o.old = window{}, window{}
	o.mu.Unlock()
	return nil
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) >= maxAhead {
		return o.get(p, off)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	end := min(off+int64(len(p)), o.size)
	w := &o.cur
	switch {
	case o.cur.holds(off, end):
	case o.old.holds(off, end):
		w = &o.old
	default:
		if o.ahead > 0 && off >= o.cur.off-minAhead && off <= o.cur.off+int64(len(o.cur.b))+minAhead {
			o.ahead = min(2*o.ahead, maxAhead)
		} else {
			o.ahead = minAhead
		}
		n := min(max(o.ahead, end-off), o.size-off)
		b := o.old.b // the older window's buffer is reused
		if int64(cap(b)) < n {
			b = make([]byte, n)
		}
		b = b[:n]
		if _, err := o.get(b, off); err != nil && err != io.EOF {
			return 0, err
		}
		o.old, o.cur = o.cur, window{off: off, b: b}
	}
	c := copy(p, w.b[off-w.off:end-w.off])
	if c < len(p) {
		return c, io.EOF
	}
	return c, nil
}

// get reads p at off with one ranged GET.
func (o *object) get(p []byte, off int64) (int, error) {
	want := min(int64(len(p)), o.size-off)
	var n int
	err := o.s.retry(o.s.ctx, fmt.Sprintf("read %s at byte %d", o.name, off), func() error {
		opt := minio.GetObjectOptions{}
		if err := opt.SetRange(off, off+want-1); err != nil {
			return backoffStop{err}
		}
		if err := opt.SetMatchETag(o.etag); err != nil {
			return backoffStop{err}
		}
		body, _, _, err := o.s.core.GetObject(o.s.ctx, o.s.loc.Bucket, o.key, opt)
		if err != nil {
			return err
		}
		defer body.Close()
		n, err = io.ReadFull(body, p[:want])
		return err
	})
	if err != nil {
		return n, err
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// List names every object under the prefix (relative to it, slash-
// separated), page by page.
func (s *Store) List(ctx context.Context) ([]string, error) {
	prefix := s.loc.folder()
	var out []string
	token := ""
	for {
		res, err := s.core.ListObjectsV2(s.loc.Bucket, prefix, "", token, "", 1000)
		if err != nil {
			return nil, s.explain("list "+s.loc.String(), err)
		}
		for _, o := range res.Contents {
			out = append(out, strings.TrimPrefix(o.Key, prefix))
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			return out, nil
		}
		token = res.NextContinuationToken
	}
}

// Get reads the whole object rel (a record: small).
func (s *Store) Get(ctx context.Context, rel string) ([]byte, error) {
	var b []byte
	err := s.retry(ctx, "read "+s.URL(rel), func() error {
		body, _, _, err := s.core.GetObject(ctx, s.loc.Bucket, s.loc.Key(rel), minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer body.Close()
		b, err = io.ReadAll(io.LimitReader(body, 64<<20))
		return err
	})
	return b, err
}
