package verify

import (
	"context"
	"fmt"

	"github.com/coldimage/coldimage/imager"
)

// ErrCutOff is why an acquisition still recorded as in-progress has no
// verdict: it was cut off (power loss, crash, kill) and can be resumed.
var ErrCutOff = fmt.Errorf("%w: the acquisition was cut off (in-progress)", ErrNotCompleted)

// checkInProgress checks what a cut-off acquisition's record says is
// durable: the image files hold at least that many bytes, and every whole
// recorded piece of them hashes as recorded. It returns ErrCutOff when they
// do (no verdict on the image: it is not complete), an ErrMismatch naming
// the first differing piece when they do not.
func checkInProgress(ctx context.Context, dir string, rec *imager.Record, o Options) (*imager.Piece, error) {
	img, err := OpenImage(dir, rec)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	n := rec.Image.Size
	if img.Size() < n {
		return nil, fmt.Errorf("%w: image in %s holds %d bytes, the record says %d are durable", ErrMismatch, dir, img.Size(), n)
	}
	whole := rec.DurablePieces()
	checked := int64(0)
	if len(whole) > 0 {
		last := whole[len(whole)-1]
		checked = last.Offset + last.Length
		res, err := imager.Run(ctx, imager.Options{Name: dir, Source: img, Size: checked, Hashes: []string{whole[0].Alg}, Hashers: o.Hashers,
			PieceSize: rec.Image.PieceSize, PieceAlg: whole[0].Alg, Retries: -1, Phase: imager.PhaseVerify, Emit: o.Emit})
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", dir, err)
		}
		for i, p := range whole {
			if i >= len(res.Pieces) || res.Pieces[i] != p {
				return &p, fmt.Errorf("%w: the image in %s differs from its record in the piece at byte %d (length %d), before the point the cut-off acquisition says is durable", ErrMismatch, dir, p.Offset, p.Length)
			}
		}
	}
	return nil, fmt.Errorf("%w: %d of %d bytes durable, the %d recorded whole pieces of them (%d bytes) match; continue it with: coldimage acquire --resume %s",
		ErrCutOff, n, rec.Source.Size, len(whole), checked, dir)
}
