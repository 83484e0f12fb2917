// Package s3test starts a real S3 server for tests: versitygw (the Versity
// S3 gateway, posix backend) on 127.0.0.1, with TLS on a test CA made for
// the run. scripts/install-deps.sh installs versitygw.
package s3test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Credentials of every test server.
const (
	AccessKey = "coldimage-test"
	SecretKey = "test-secret-0123456789"
)

// Server is one running versitygw.
type Server struct {
	Dir      string // the posix backend: each folder is a bucket
	Port     int
	Endpoint string // https://127.0.0.1:PORT (http:// when plain)
	CAFile   string // PEM of the CA that signed the server's certificate
	Pin      string // sha256:HEX of the server's certificate
	plain    bool
	cert     string
	key      string
	bin      string
	mu       sync.Mutex
	cmd      *exec.Cmd
	log      *os.File
}

// Binary finds versitygw: on PATH or where install-deps.sh puts it.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	dir := os.Getenv("COLDIMAGE_CACHE")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "coldimage")
	}
	p := filepath.Join(dir, "bin", "versitygw")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Start starts a server for the test (stopped at its end) with the given
// buckets; plain serves http instead of https. The test is skipped when
// versitygw is not installed (scripts/install-deps.sh installs it).
func Start(t testing.TB, plain bool, buckets ...string) *Server {
	t.Helper()
	if Binary() == "" {
		t.Skip("versitygw not installed (scripts/install-deps.sh installs it)")
	}
	s, err := New(t.TempDir(), plain, buckets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("versitygw log:\n%s", b)
		}
	})
	return s
}

// New starts a server whose store, certificates and log are in tmp (the
// benchmarks use it; tests use Start). Close stops it.
func New(tmp string, plain bool, buckets ...string) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, errors.New("versitygw not installed (scripts/install-deps.sh installs it)")
	}
	s := &Server{Dir: filepath.Join(tmp, "store"), plain: plain, bin: bin}
	for _, b := range append([]string{""}, buckets...) {
		if err := os.MkdirAll(filepath.Join(s.Dir, b), 0o755); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	scheme := "https"
	if plain {
		scheme = "http"
	} else if err := s.makeCerts(tmp, []string{"127.0.0.1", "10.0.2.2"}); err != nil {
		return nil, err
	}
	s.Endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.Port)
	if s.log, err = os.Create(filepath.Join(tmp, "versitygw.log")); err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.log.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server for good.
func (s *Server) Close() {
	s.Stop()
	s.log.Close()
}

// Start (re)starts the server process and waits until it answers.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{"--access", AccessKey, "--secret", SecretKey, "--port", "127.0.0.1:" + strconv.Itoa(s.Port)}
	if !s.plain {
		args = append(args, "--cert", s.cert, "--key", s.key)
	}
	args = append(args, "posix", s.Dir)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("versitygw did not listen within 30 s")
}

// Stop kills the server process (as a crash or a pulled cable would).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Env is the AWS environment for a client of the server.
func (s *Server) Env() []string {
	env := []string{"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
	if s.CAFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+s.CAFile)
	}
	return env
}

// Object is the path of an object's bytes in the posix backend.
func (s *Server) Object(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}

// makeCerts makes a CA and a server certificate for the given IPs.
func (s *Server) makeCerts(dir string, ips []string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coldimage test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "versitygw test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		leaf.IPAddresses = append(leaf.IPAddresses, net.ParseIP(ip))
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	s.CAFile, s.cert, s.key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	sum := sha256.Sum256(leafDER)
	s.Pin = "sha256:" + hex.EncodeToString(sum[:])
	for path, b := range map[string]*pem.Block{
		s.CAFile: {Type: "CERTIFICATE", Bytes: caDER},
		s.cert:   {Type: "CERTIFICATE", Bytes: leafDER},
		s.key:    {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// OpenUploads lists the keys of the multipart uploads under prefix that
// were started and never completed nor aborted (asked of the server).
func (s *Server) OpenUploads(bucket, prefix string) ([]string, error) {
	tr := &http.Transport{}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, err
	}
	c, err := minio.NewCore(u.Host, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Secure: u.Scheme == "https", Region: "us-east-1", Transport: tr, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys []string
	keyMarker, idMarker := "", ""
	for range 1000 {
		res, err := c.ListMultipartUploads(ctx, bucket, prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, err
		}
		for _, up := range res.Uploads {
			keys = append(keys, up.Key)
		}
		if !res.IsTruncated {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return keys, nil
}
