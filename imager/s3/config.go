// Package s3 is the S3 target: an image streamed into a bucket as a
// multipart upload (each part carrying its SHA-256, so the store rejects a
// part corrupted on the way), records put as objects beside it, and every
// object read back with ranged GETs for verification. It is an
// imager.Remote: a local staging folder stands for the bucket's prefix.
package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is how to reach the store, from the AWS conventions
// (ConfigFromEnv) or the appliance's settings.
type Config struct {
	Endpoint  string // https://HOST[:PORT] (http:// only when Insecure)
	Region    string
	AccessKey string
	SecretKey string
	// CABundle is a PEM file of the authorities trusted for the
	// endpoint's certificate (AWS_CA_BUNDLE); empty: the system's.
	CABundle string
	// CAPEM is the same as PEM text (the appliance reads it from the stick).
	CAPEM []byte
	// Pin is "sha256:HEX", the SHA-256 of the endpoint's certificate
	// (DER): when set, that certificate is trusted and no other.
	Pin string
	// Insecure allows a plain http:// endpoint: nothing is encrypted, and
	// the record and the console say so.
	Insecure bool

	PartSize int64         // bytes per uploaded part (0: DefaultPartSize, raised for large images)
	Uploads  int           // parts uploaded at the same time per image (0: DefaultUploads)
	RetryFor time.Duration // how long a failing request is retried (0: DefaultRetryFor)
	// Budget bounds the part buffers of all the store's image sinks
	// together (0: DefaultBudget); each sink still gets Uploads+1.
	Budget int64
}

// Defaults: an image stream holds up to (Uploads+1) × PartSize, all of
// them together at most Budget.
const (
	DefaultPartSize = 8 << 20
	DefaultUploads  = 3
	DefaultBudget   = 48 << 20
	DefaultRetryFor = 5 * time.Minute
	minPartSize     = 5 << 20 // S3's smallest part but the last
	maxParts        = 10000   // S3's most parts in one upload
)

// ConfigFromEnv reads the AWS conventions: AWS_ENDPOINT_URL_S3 (else
// AWS_ENDPOINT_URL), AWS_REGION (else AWS_DEFAULT_REGION),
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE.
func ConfigFromEnv(getenv func(string) string) Config {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := strings.TrimSpace(getenv(k)); v != "" {
				return v
			}
		}
		return ""
	}
	return Config{
		Endpoint:  first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:    first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey: first("AWS_ACCESS_KEY_ID"),
		SecretKey: first("AWS_SECRET_ACCESS_KEY"),
		CABundle:  first("AWS_CA_BUNDLE"),
	}
}

// Location is an s3://BUCKET/PREFIX URL, parsed.
type Location struct {
	Bucket string
	Prefix string // no leading or trailing slash; may be empty
}

// ParseURL parses s3://BUCKET[/PREFIX].
func ParseURL(raw string) (Location, error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	if !ok {
		return Location{}, fmt.Errorf("%s: not an s3:// URL", raw)
	}
	if strings.ContainsAny(rest, "?#@") {
		return Location{}, fmt.Errorf("%s: an s3:// URL is s3://BUCKET/PREFIX (no credentials, query or fragment: credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or coldimage.s3.*)", raw)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return Location{}, fmt.Errorf("%s: %q is not a bucket name (3-63 of a-z, 0-9, '.', '-')", raw, bucket)
	}
	prefix = strings.Trim(prefix, "/")
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return Location{}, fmt.Errorf("%s: the prefix has an empty, . or .. segment", raw)
		}
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '.' || c == '-') && i > 0 && i < len(b)-1
		if !ok {
			return false
		}
	}
	return true
}

// String is the URL again.
func (l Location) String() string {
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// folder is the prefix as a folder of keys: "PREFIX/" (or "" for the
// whole bucket), what listings ask for.
func (l Location) folder() string {
	if l.Prefix == "" {
		return ""
	}
	return l.Prefix + "/"
}

// Key is the object key of rel (slash-separated) under the prefix.
func (l Location) Key(rel string) string {
	rel = strings.TrimPrefix(rel, "./")
	if rel == "." || rel == "" {
		return l.Prefix
	}
	if l.Prefix == "" {
		return rel
	}
	return l.Prefix + "/" + rel
}

// endpointURL checks the endpoint: https, or http only when insecure.
func (c Config) endpointURL() (*url.URL, error) {
	ep := c.Endpoint
	if ep == "" {
		region := c.Region
		if region == "" {
			region = "us-east-1"
		}
		ep = "https://s3." + region + ".amazonaws.com"
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("S3 endpoint %q: want https://HOST[:PORT]", ep)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("S3 endpoint %q: a path is not supported (the bucket is in the s3:// URL)", ep)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.Insecure {
			return nil, fmt.Errorf("S3 endpoint %s is plain http: nothing would be encrypted; allow it explicitly (--s3-insecure, coldimage.s3.insecure=1) or use https", ep)
		}
	default:
		return nil, fmt.Errorf("S3 endpoint %q: want https:// (or http:// with --s3-insecure)", ep)
	}
	return u, nil
}

// pinHash parses "sha256:HEX".
func pinHash(pin string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(pin)), "sha256:")
	b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
	if !ok || err != nil || len(b) != sha256.Size {
		return nil, errors.New("a certificate pin is sha256:HEX (64 hex digits: the SHA-256 of the certificate)")
	}
	return b, nil
}

// Validate checks what can be checked without the network: the endpoint
// (https, or http only when insecure) and the pin's form. Open makes the
// same checks; a form that takes the settings one at a time (the console
// UI) says what is wrong before anything is joined.
func (c Config) Validate() error {
	if _, err := c.endpointURL(); err != nil {
		return err
	}
	if c.Pin != "" {
		if _, err := pinHash(c.Pin); err != nil {
			return err
		}
	}
	return nil
}
