package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coldimage/coldimage/imager"
	"github.com/coldimage/coldimage/imager/s3/s3test"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix, key, err string
	}{
		{in: "s3://evidence", bucket: "evidence", key: "image.raw"},
		{in: "s3://evidence/", bucket: "evidence", key: "image.raw"},
		{in: "s3://evidence/case-1/disk/", bucket: "evidence", prefix: "case-1/disk", key: "case-1/disk/image.raw"},
		{in: "s3://ev.idence-2/a", bucket: "ev.idence-2", prefix: "a", key: "a/image.raw"},
		{in: "s3://Evidence/a", err: "not a bucket name"},
		{in: "s3://ab/a", err: "not a bucket name"},
		{in: "s3://-ab/a", err: "not a bucket name"},
		{in: "s3://key:secret@evidence/a", err: "no credentials"},
		{in: "s3://evidence/a?x=1", err: "no credentials"},
		{in: "s3://evidence/a//b", err: "empty, . or .."},
		{in: "s3://evidence/a/../b", err: "empty, . or .."},
		{in: "smb://evidence/a", err: "not an s3:// URL"},
	} {
		l, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix || l.Key("image.raw") != tc.key {
			t.Errorf("%s: %+v %v (key %q), want %s %q %q", tc.in, l, err, l.Key("image.raw"), tc.bucket, tc.prefix, tc.key)
		}
	}
}

func TestConfigEndpoint(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // URL or error text
	}{
		{Config{}, "https://s3.us-east-1.amazonaws.com"},
		{Config{Region: "eu-west-1"}, "https://s3.eu-west-1.amazonaws.com"},
		{Config{Endpoint: "https://minio.lab:9000"}, "https://minio.lab:9000"},
		{Config{Endpoint: "http://minio.lab:9000"}, "plain http"},
		{Config{Endpoint: "http://minio.lab:9000", Insecure: true}, "http://minio.lab:9000"},
		{Config{Endpoint: "https://minio.lab/bucket"}, "a path is not supported"},
		{Config{Endpoint: "ftp://minio.lab"}, "want https://"},
	} {
		u, err := tc.cfg.endpointURL()
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = u.String()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
	env := map[string]string{"AWS_ENDPOINT_URL": "https://a", "AWS_ENDPOINT_URL_S3": "https://b", "AWS_DEFAULT_REGION": "r", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_CA_BUNDLE": "/ca"}
	c := ConfigFromEnv(func(k string) string { return env[k] })
	if c.Endpoint != "https://b" || c.Region != "r" || c.AccessKey != "k" || c.SecretKey != "s" || c.CABundle != "/ca" {
		t.Errorf("ConfigFromEnv: %+v", c)
	}
	if _, err := pinHash("sha256:" + strings.Repeat("0", 63)); err == nil {
		t.Error("a short pin was taken")
	}
	for _, tc := range []struct {
		cfg  Config
		want string // "" or error text
	}{
		{Config{Endpoint: "https://10.0.2.2:9000", Pin: "sha256:" + strings.Repeat("ab", 32)}, ""},
		{Config{Endpoint: "https://10.0.2.2:9000", Pin: "AB:" + strings.Repeat("ab", 32)}, "a certificate pin is sha256:HEX"},
		{Config{Endpoint: "http://10.0.2.2:9000"}, "plain http"},
		{Config{Endpoint: "10.0.2.2:9000"}, "want https://"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate %+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// writeThrough streams data into a sink in 1 MiB writes (as the engine
// does), calling between(off) before each.
func writeThrough(t *testing.T, k imager.Sink, data []byte, between func(off int)) {
	t.Helper()
	for off := 0; off < len(data); off += 1 << 20 {
		if between != nil {
			between(off)
		}
		end := min(off+1<<20, len(data))
		if _, err := k.Write(data[off:end]); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	if err := k.Finish(imager.Final{}); err != nil {
		t.Fatalf("finish: %v", err)
	}
}

// storedBytes joins the objects files under rel in the bucket "evidence",
// as the server's backend holds them.
func storedBytes(t *testing.T, srv *s3test.Server, rel string, files []string) []byte {
	t.Helper()
	var joined []byte
	for _, f := range files {
		b, err := os.ReadFile(srv.Object("evidence", rel+"/"+f))
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, b...)
	}
	return joined
}

func openStore(t *testing.T, srv *s3test.Server, url string, cfg Config) *Store {
	t.Helper()
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.CABundle = srv.Endpoint, s3test.AccessKey, s3test.SecretKey, srv.CAFile
	if !strings.HasPrefix(srv.Endpoint, "https") {
		cfg.Insecure = true
	}
	st, err := Open(context.Background(), url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSinkObjects streams images through the sink (one object; split, the
// last object short; split ending exactly at an object; empty) and checks
// the objects the server stored and what ranged reads give back.
func TestSinkObjects(t *testing.T) {
	srv := s3test.Start(t, false, "evidence")
	for _, tc := range []struct {
		name  string
		size  int
		split int64
		files []string
	}{
		{"one", 21<<20 + 4096, 0, []string{"image.raw"}},
		{"split", 21<<20 + 4096, 10 << 20, []string{"image.raw.001", "image.raw.002", "image.raw.003"}},
		{"split exact", 20 << 20, 10 << 20, []string{"image.raw.001", "image.raw.002"}},
		{"empty", 0, 0, []string{"image.raw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := strings.ReplaceAll(tc.name, " ", "-")
			st := openStore(t, srv, "s3://evidence/"+rel, Config{PartSize: 5 << 20})
			staging := t.TempDir()
			k, err := st.Sink(staging, "", "image", tc.split, int64(tc.size))
			if err != nil {
				t.Fatal(err)
			}
			data := randomBytes(tc.size, 1)
			writeThrough(t, k, data, nil)
			var names []string
			for _, f := range k.Files() {
				names = append(names, filepath.Base(f))
				if filepath.Dir(f) != staging {
					t.Errorf("file %s not in the staging folder %s", f, staging)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.files, ",") {
				t.Fatalf("files %v, want %v", names, tc.files)
			}
			joined := storedBytes(t, srv, rel, tc.files)
			for _, f := range tc.files {
				b, err := os.ReadFile(srv.Object("evidence", rel+"/"+f))
				if err != nil {
					t.Fatal(err)
				}
				o, err := st.Open(f)
				if err != nil {
					t.Fatal(err)
				}
				back := make([]byte, o.Size())
				if n, err := o.ReadAt(back, 0); (err != nil && err != io.EOF) || n != len(b) || !bytes.Equal(back, b) {
					t.Errorf("%s read back: %d bytes, %v; equal %v", f, n, err, bytes.Equal(back, b))
				}
			}
			if !bytes.Equal(joined, data) {
				t.Fatalf("stored %d bytes differ from the %d written", len(joined), len(data))
			}
			if d := k.(*Sink).Durable(); d != 0 {
				t.Errorf("durable %d without a Sync", d)
			}
		})
	}
}

// TestSinkServerRestart stops the server in the middle of an upload and
// starts it again 4 s later: the parts are sent again and the object is
// whole; Durable reports only stored bytes meanwhile.
func TestSinkServerRestart(t *testing.T) {
	srv := s3test.Start(t, false, "evidence")
	st := openStore(t, srv, "s3://evidence/restart", Config{PartSize: 5 << 20, Uploads: 2, RetryFor: time.Minute})
	k, err := st.Sink(t.TempDir(), "", "image", 0, 40<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(40<<20, 2)
	var restarted atomic.Bool
	var wg sync.WaitGroup
	writeThrough(t, k, data, func(off int) {
		if off == 12<<20 {
			k.(*Sink).Sync()
			srv.Stop()
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(4 * time.Second)
				if err := srv.Start(); err != nil {
					t.Error(err)
				}
				restarted.Store(true)
			}()
		}
	})
	wg.Wait()
	if !restarted.Load() {
		t.Fatal("the server was not restarted")
	}
	b, err := os.ReadFile(srv.Object("evidence", "restart/image.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(b) != sha256.Sum256(data) {
		t.Fatalf("object of %d bytes differs from the %d written", len(b), len(data))
	}
}

// corruptingProxy forwards to an S3 server and flips one byte in the body
// of the first upload of part 2: the server must refuse that part.
type corruptingProxy struct {
	rp        *httputil.ReverseProxy
	flipped   atomic.Int32
	refused   atomic.Int32
	part2Puts atomic.Int32
}

func (p *corruptingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
		if p.part2Puts.Add(1) == 1 {
			body, _ := io.ReadAll(r.Body)
			body[len(body)/2] ^= 0x01
			p.flipped.Add(1)
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := &statusRecorder{ResponseWriter: w}
			p.rp.ServeHTTP(rec, r)
			if rec.status >= 400 {
				p.refused.Add(1)
			}
			return
		}
	}
	p.rp.ServeHTTP(w, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(c int) { s.status = c; s.ResponseWriter.WriteHeader(c) }

// TestSinkCorruptedPartResent: a part damaged on the way is refused by the
// server (its SHA-256 and MD5 no longer match) and sent again.
func TestSinkCorruptedPartResent(t *testing.T) {
	srv := s3test.Start(t, true, "evidence")
	var proxy *corruptingProxy
	st := proxiedStore(t, srv, "s3://evidence/flip", func(rp *httputil.ReverseProxy) http.Handler {
		proxy = &corruptingProxy{rp: rp}
		return proxy
	})
	k, err := st.Sink(t.TempDir(), "", "image", 0, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(16<<20, 3)
	writeThrough(t, k, data, nil)
	if proxy.flipped.Load() != 1 || proxy.refused.Load() != 1 || proxy.part2Puts.Load() < 2 {
		t.Fatalf("flipped %d, refused %d, part 2 sent %d times: want 1, 1, ≥2", proxy.flipped.Load(), proxy.refused.Load(), proxy.part2Puts.Load())
	}
	b, err := os.ReadFile(srv.Object("evidence", "flip/image.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, data) {
		t.Fatal("the stored object differs from what was written")
	}
}

// noChecksumProxy stands for a store that does not implement
// x-amz-checksum: it answers 501 NotImplemented to any request carrying
// one, and counts the part uploads that carry Content-MD5.
type noChecksumProxy struct {
	next          http.Handler
	refused       atomic.Int32
	parts, md5ed  atomic.Int32
	checksumsSeen atomic.Int32
}

func (p *noChecksumProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") || strings.HasPrefix(strings.ToLower(k), "x-amz-sdk-checksum") {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>%s is not implemented</Message><Resource>%s</Resource></Error>`, k, r.URL.Path)
			return
		}
	}
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" {
		p.parts.Add(1)
		if r.Header.Get("Content-Md5") != "" {
			p.md5ed.Add(1)
		}
	}
	p.next.ServeHTTP(w, r)
}

// TestStoreWithoutChecksums: a store that refuses x-amz-checksum headers
// gets the records and the image parts with Content-MD5 instead (beside
// their signed SHA-256); a part damaged on the way is still refused and
// sent again, the objects are exact, and the record says how they went.
func TestStoreWithoutChecksums(t *testing.T) {
	srv := s3test.Start(t, true, "evidence")
	var flip *corruptingProxy
	var proxy *noChecksumProxy
	st := proxiedStore(t, srv, "s3://evidence/plain", func(rp *httputil.ReverseProxy) http.Handler {
		flip = &corruptingProxy{rp: rp}
		proxy = &noChecksumProxy{next: flip}
		return proxy
	})
	if err := st.Check(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	rec := []byte(`{"result":"in-progress"}`)
	if err := st.Put("acquisition.json", rec); err != nil {
		t.Fatalf("record refused: %v", err)
	}
	k, err := st.Sink(t.TempDir(), "", "image", 0, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(16<<20, 5)
	writeThrough(t, k, data, nil)
	if proxy.refused.Load() == 0 || proxy.parts.Load() < 4 || proxy.md5ed.Load() != proxy.parts.Load() {
		t.Errorf("checksum requests refused %d; parts sent %d, with Content-MD5 %d", proxy.refused.Load(), proxy.parts.Load(), proxy.md5ed.Load())
	}
	if flip.flipped.Load() != 1 || flip.refused.Load() != 1 {
		t.Errorf("flipped %d, refused %d: a damaged part must still be refused", flip.flipped.Load(), flip.refused.Load())
	}
	for name, want := range map[string][]byte{"plain/image.raw": data, "plain/acquisition.json": rec} {
		b, err := os.ReadFile(srv.Object("evidence", name))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %v, or it differs from what was written", name, err)
		}
	}
	if d := st.Describe(); !strings.Contains(d.Upload, "Content-MD5 (the store refused x-amz-checksum-sha256)") {
		t.Errorf("the record says %q", d.Upload)
	}
}

// proxiedStore opens a store reaching srv (plain http) through the
// handler made around a reverse proxy to it, on 127.0.0.1 for the test.
func proxiedStore(t *testing.T, srv *s3test.Server, rawURL string, handler func(*httputil.ReverseProxy) http.Handler) *Store {
	t.Helper()
	target, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	hs := &http.Server{Handler: handler(rp)}
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	st, err := Open(context.Background(), rawURL, Config{Endpoint: "http://" + l.Addr().String(), Insecure: true,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, PartSize: 5 << 20, RetryFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// unavailableProxy answers 503 SlowDown while down is set, else forwards;
// it counts the requests it refused.
type unavailableProxy struct {
	next    http.Handler
	down    atomic.Bool
	refused atomic.Int32
}

func (p *unavailableProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		p.refused.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>`)
		return
	}
	p.next.ServeHTTP(w, r)
}

// TestStoreDownFailsFast: a request that gave up after RetryFor marks the
// store down; the next requests are tried once each until one succeeds,
// and then retried again as before.
func TestStoreDownFailsFast(t *testing.T) {
	srv := s3test.Start(t, true, "evidence")
	var proxy *unavailableProxy
	st := proxiedStore(t, srv, "s3://evidence/down", func(rp *httputil.ReverseProxy) http.Handler {
		proxy = &unavailableProxy{next: rp}
		return proxy
	})
	st.cfg.RetryFor = 2 * time.Second
	put := func(name string) (tries int32, err error) {
		before := proxy.refused.Load()
		err = st.Put(name, []byte(name))
		return proxy.refused.Load() - before, err
	}
	proxy.down.Store(true)
	if n, err := put("a.json"); err == nil || n < 3 {
		t.Fatalf("first put while down: %d tries, %v; want retries, then an error", n, err)
	}
	if n, err := put("b.json"); err == nil || n != 1 || !strings.Contains(err.Error(), "tried once") {
		t.Fatalf("second put while down: %d tries, %v; want one try saying so", n, err)
	}
	proxy.down.Store(false)
	if _, err := put("c.json"); err != nil {
		t.Fatalf("put with the store back: %v", err)
	}
	proxy.down.Store(true)
	if n, err := put("d.json"); err == nil || n < 3 {
		t.Fatalf("put after a success: %d tries, %v; want retries again", n, err)
	}
	if st.PutFailures() != 3 {
		t.Errorf("%d put failures counted, want 3", st.PutFailures())
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// BenchmarkSink streams 256 MiB through one sink into versitygw (http).
func BenchmarkSink(b *testing.B) {
	srv := s3test.Start(b, true, "evidence")
	data := randomBytes(256<<20, 4)
	b.SetBytes(int64(len(data)))
	for i := range b.N {
		st, err := Open(context.Background(), fmt.Sprintf("s3://evidence/bench%d", i), Config{Endpoint: srv.Endpoint, Insecure: true,
			AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
		if err != nil {
			b.Fatal(err)
		}
		k, err := st.Sink(b.TempDir(), "", "image", 0, int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(data); off += 4 << 20 {
			if _, err := k.Write(data[off : off+4<<20]); err != nil {
				b.Fatal(err)
			}
		}
		if err := k.Finish(imager.Final{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSettleAndResumeSink cuts an upload off (its multipart upload left
// open, as a power loss leaves it), settles what the store holds and
// continues at offsets that take each path: a prefix too short for a part
// of its own (read back and sent again), one copied server-side, and a
// split image resumed exactly where its next object begins.
func TestSettleAndResumeSink(t *testing.T) {
	srv := s3test.Start(t, false, "evidence")
	for _, tc := range []struct {
		name          string
		split, offset int64
		files         []string
	}{
		{"short prefix", 0, 3 << 20, []string{"image.raw"}},
		{"copied prefix", 0, 7 << 20, []string{"image.raw"}},
		{"split boundary", 5 << 20, 10 << 20, []string{"image.raw.001", "image.raw.002", "image.raw.003", "image.raw.004"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := strings.ReplaceAll(tc.name, " ", "-")
			st := openStore(t, srv, "s3://evidence/"+rel, Config{PartSize: 5 << 20, RetryFor: 10 * time.Second})
			data := randomBytes(17<<20, 5)
			staging := t.TempDir()
			k, err := st.Sink(staging, "", "image", tc.split, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < 12<<20; off += 1 << 20 {
				if _, err := k.Write(data[off : off+1<<20]); err != nil {
					t.Fatal(err)
				}
			}
			sk := k.(*Sink)
			sk.wg.Wait() // the parts sent are stored; nothing completes the upload: a power cut
			for _, f := range sk.Files() {
				if err := st.Settle(filepath.Base(f)); err != nil {
					t.Fatal(err)
				}
			}
			r, err := st.ResumeSink(staging, "", "image", tc.split, int64(len(data)), tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			writeThrough(t, r, data[tc.offset:], nil)
			if joined := storedBytes(t, srv, rel, tc.files); !bytes.Equal(joined, data) {
				t.Fatalf("the resumed image (%d bytes) differs from the data (%d bytes)", len(joined), len(data))
			}
			var names []string
			for _, f := range r.Files() {
				names = append(names, filepath.Base(f))
			}
			if strings.Join(names, ",") != strings.Join(tc.files, ",") {
				t.Errorf("files %v, want %v", names, tc.files)
			}
		})
	}
}

// getCounter forwards and counts GET requests.
type getCounter struct {
	next http.Handler
	gets atomic.Int32
}

func (g *getCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		g.gets.Add(1)
	}
	g.next.ServeHTTP(w, r)
}

// TestObjectReadBack reads an object back as an E01 reader does: chunks of
// 32 KiB asked for a little out of order by two workers, and descriptors
// far apart. Every byte is the object's; the read-ahead windows make a
// few GETs of the sequential reads; an object that is not there is
// fs.ErrNotExist (the end of a segment set).
func TestObjectReadBack(t *testing.T) {
	srv := s3test.Start(t, true, "evidence")
	var count *getCounter
	st := proxiedStore(t, srv, "s3://evidence/rb", func(rp *httputil.ReverseProxy) http.Handler {
		count = &getCounter{next: rp}
		return count
	})
	data := randomBytes(24<<20+777, 9)
	if err := st.Put("image.E01", data); err != nil {
		t.Fatal(err)
	}
	f, err := st.Open("image.E01")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != int64(len(data)) {
		t.Fatalf("size %d, want %d", f.Size(), len(data))
	}
	const chunk = 32<<10 + 4
	var offs []int64
	for off := int64(0); off < int64(len(data)); off += 2 * chunk {
		offs = append(offs, off+chunk, off) // the second worker first
	}
	offs = append(offs, 3, int64(len(data))-100, 12<<20+5) // descriptors
	before := count.gets.Load()
	for _, off := range offs {
		if off >= int64(len(data)) {
			continue
		}
		p := make([]byte, chunk)
		n, err := f.ReadAt(p, off)
		want := data[off:min(off+chunk, int64(len(data)))]
		if (err != nil && err != io.EOF) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d): %d bytes, %v, equal %v", off, n, err, bytes.Equal(p[:n], want))
		}
	}
	gets := count.gets.Load() - before
	if gets > 30 { // 771 without the windows
		t.Errorf("%d reads took %d GETs: the read-ahead does not follow them", len(offs), gets)
	}
	big := make([]byte, 8<<20)
	if n, err := f.ReadAt(big, 1<<20); err != nil || !bytes.Equal(big[:n], data[1<<20:9<<20]) {
		t.Fatalf("large ReadAt: %d, %v", n, err)
	}
	if _, err := st.Open("image.E02"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing object: %v, want fs.ErrNotExist", err)
	}
	t.Logf("%d reads, %d GETs", len(offs), gets)
}

// TestAbandon: the open uploads of the segments a cut-off run was sending
// are dropped; a stored segment, and an open upload outside the prefix,
// are not touched.
func TestAbandon(t *testing.T) {
	srv := s3test.Start(t, false, "evidence")
	st := openStore(t, srv, "s3://evidence/ab", Config{PartSize: 5 << 20, RetryFor: 10 * time.Second})
	staging := t.TempDir()
	stored := randomBytes(3<<20, 1)
	k, err := st.ObjectSink(staging, "src", "image.E01", int64(len(stored)))
	if err != nil {
		t.Fatal(err)
	}
	writeThrough(t, k, stored, nil)
	// Cut off: two segments (one with a stored part) and a raw file beside
	// them, their uploads open.
	open := func(name string, n int) {
		k, err := st.ObjectSink(staging, "src", name, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Write(randomBytes(n, 2)); err != nil {
			t.Fatal(err)
		}
		k.(*Sink).wg.Wait()
	}
	open("image.E02", 6<<20)
	open("image.E03", 0)
	open("other.raw", 1<<20)
	if keys, err := srv.OpenUploads("evidence", "ab/"); err != nil || len(keys) != 3 {
		t.Fatalf("open uploads before: %v, %v (want 3)", keys, err)
	}
	n, err := st.Abandon("src/image.")
	if err != nil || n != 2 {
		t.Fatalf("Abandon: %d, %v (want 2 dropped)", n, err)
	}
	keys, err := srv.OpenUploads("evidence", "ab/")
	if err != nil || len(keys) != 1 || keys[0] != "ab/src/other.raw" {
		t.Errorf("open uploads after: %v, %v (want only ab/src/other.raw)", keys, err)
	}
	if b, err := os.ReadFile(srv.Object("evidence", "ab/src/image.E01")); err != nil || !bytes.Equal(b, stored) {
		t.Errorf("the stored segment changed: %v", err)
	}
	if n, err := st.Abandon("src/image."); err != nil || n != 0 {
		t.Errorf("Abandon again: %d, %v (want nothing to drop)", n, err)
	}
}
