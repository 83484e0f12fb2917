package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coldimage/coldimage/imager/s3/s3test"
)

// s3Bench measures the S3 target against versitygw on this machine's
// loopback (https, on a test CA; the store in the scratch folder): an
// acquisition of the bench file with its verification (read back with
// ranged GETs) against the same acquisition into a local folder; rclone
// uploading the already-made image to the same server (upload alone); and
// the peak RSS of eight concurrent sources into the store.
func s3Bench(bin, dir, src string, size int64, srcs []string, runs int, logf func(string, ...any), rows *[]row) error {
	work, err := os.MkdirTemp(dir, "s3-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	srv, err := s3test.New(work, false, "bench")
	if err != nil {
		return err
	}
	defer srv.Close()
	env := append(srv.Env(), "TMPDIR="+work)
	mbps := func(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }
	n := 0
	clean := func() {
		os.RemoveAll(filepath.Join(srv.Dir, "bench"))
		os.MkdirAll(filepath.Join(srv.Dir, "bench"), 0o755)
	}

	out := filepath.Join(work, "local")
	// toFolder and toStore time `acquire` (flags, then the sources) into
	// the folder out, or into a fresh prefix of the store with its peak RSS.
	toFolder := func(args ...string) time.Duration {
		return best(runs, func() time.Duration {
			os.RemoveAll(out)
			d, _, err := timed(bin, nil, append(append([]string{"acquire", "--hash", "sha256,blake3"}, args...), out)...)
			if err != nil {
				logf("acquire %v to a folder: %v", args, err)
			}
			return d
		})
	}
	toStore := func(args ...string) (time.Duration, int64) {
		var rss int64
		d := best(runs, func() time.Duration {
			clean()
			n++
			d, r, err := timed(bin, env, append(append([]string{"acquire", "--hash", "sha256,blake3"}, args...), fmt.Sprintf("s3://bench/run%d", n))...)
			if err != nil {
				logf("acquire %v to s3: %v", args, err)
			}
			rss = max(rss, r)
			return d
		})
		return d, rss
	}
	local := toFolder(src)
	s3, rss := toStore(src)
	*rows = append(*rows, row{"coldimage acquire (verify included) into a folder (tmpfs)", fmt.Sprintf("%.0f MB/s", mbps(size, local)), "the reference of the S3 figure"})
	*rows = append(*rows, row{"coldimage acquire (verify included) to s3:// (versitygw, https, loopback)", fmt.Sprintf("%.0f MB/s", mbps(size, s3)),
		fmt.Sprintf("%.2f× the folder (target ≥ 0.7); peak RSS %d MiB", local.Seconds()/s3.Seconds(), rss>>10)})
	logf("s3: %.0f MB/s, folder %.0f MB/s", mbps(size, s3), mbps(size, local))

	// rclone: the made image uploaded alone.
	img := filepath.Join(out, "image.raw")
	if _, err := os.Stat(img); err == nil {
		rcEnv := []string{"RCLONE_CONFIG_BENCH_TYPE=s3", "RCLONE_CONFIG_BENCH_PROVIDER=Other", "RCLONE_CONFIG_BENCH_ENDPOINT=" + srv.Endpoint,
			"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=" + s3test.AccessKey, "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=" + s3test.SecretKey,
			"RCLONE_CONFIG_BENCH_REGION=us-east-1", "RCLONE_CONFIG=/dev/null",
			"AWS_CA_BUNDLE="} // rclone 1.60 fails on a CA bundle from the environment; --ca-cert gives it
		// One run: rclone is slow here, and its figure is the bound we must beat.
		rc := best(1, func() time.Duration {
			clean()
			d, _, err := timed("rclone", rcEnv, "copy", "--s3-no-check-bucket", "--ca-cert", srv.CAFile, img, "bench:bench/rclone")
			if err != nil {
				logf("rclone copy: %v", err)
			}
			return d
		})
		*rows = append(*rows, row{"rclone copy image.raw to the same server (upload alone)", fmt.Sprintf("%.0f MB/s", mbps(size, rc)),
			fmt.Sprintf("coldimage (acquire+hash+upload+verify) takes %.2f× rclone's time (target < 1)", s3.Seconds()/rc.Seconds())})
	}
	os.RemoveAll(out)

	// Eight concurrent sources into the store.
	var total int64
	for _, p := range srcs {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	d8, rss8 := toStore(srcs...)
	*rows = append(*rows, row{fmt.Sprintf("%d sources at once to s3:// (verify included)", len(srcs)), fmt.Sprintf("%.0f MB/s aggregate", mbps(total, d8)),
		fmt.Sprintf("peak RSS %d MiB (target ≤ 256)", rss8>>10)})

	// E01: one object per segment, streamed; the same against a folder.
	e01Local := toFolder("--format", "e01", src)
	os.RemoveAll(out)
	e01, rssE := toStore("--format", "e01", src)
	*rows = append(*rows, row{"coldimage acquire --format e01 (verify included) to s3://", fmt.Sprintf("%.0f MB/s", mbps(size, e01)),
		fmt.Sprintf("%.2f× the same into a folder (tmpfs), %.0f MB/s; peak RSS %d MiB", e01Local.Seconds()/e01.Seconds(), mbps(size, e01Local), rssE>>10)})
	d8e, rss8e := toStore(append([]string{"--format", "e01"}, srcs...)...)
	*rows = append(*rows, row{fmt.Sprintf("%d sources at once to s3:// as E01 (verify included)", len(srcs)), fmt.Sprintf("%.0f MB/s aggregate", mbps(total, d8e)),
		fmt.Sprintf("peak RSS %d MiB (target ≤ 256)", rss8e>>10)})
	logf("s3 e01: %.0f MB/s (folder %.0f), 8 sources RSS %d MiB", mbps(size, e01), mbps(size, e01Local), rss8e>>10)
	clean()
	return nil
}
