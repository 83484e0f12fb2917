// Package ewf writes and reads EWF version 1 images (.E01, .E02, …) in the
// layout EnCase 6 writes, as documented by the libewf project ("Expert Witness
// Compression Format").
//
// Segment file layout written by Writer:
//
//	first segment:  file header, header2, header2, header, volume,
//	                { sectors, table, table2 }…, next
//	middle segment: file header, data, { sectors, table, table2 }…, next
//	last segment:   file header, [data], { sectors, table, table2 }…,
//	                [data if single segment], [error2], digest, hash, done
//
// Media data is cut into chunks of 32 KiB (64 sectors of 512 bytes, or 8 of
// 4096). A chunk is stored zlib-compressed when that is not larger than the
// raw data, otherwise raw followed by its Adler-32. The last chunk keeps its
// true size. Every group of at most maxTableEntries chunks gets its own
// sectors, table and table2 sections with a table base offset, so chunk
// offsets (31 bits, relative to the base) never overflow and neither segment
// size nor media size is limited by the table format.
//
// A set created in a staging folder that stands for an object store
// (imager.RemoteOf) is written without seeking: each segment is one
// object streamed by the remote's ObjectSink, a chunk group is held in
// memory (remoteTableEntries chunks) until its sectors descriptor can be
// written before it, and the set is durable at its stored segments. Such a
// set is reopened only at the end of a stored segment, with the next one
// (ResumePoint, Reopen), and its volume section is not fixed up (a stream
// of another size than announced is an error).
//
// Reader opens a set by its .E01, finds the other segments by name and
// walks every section chain, verifying descriptors and section checksums;
// chunk tables are read (and verified) when first needed, with table2 as the
// fallback, and every chunk's Adler-32 (zlib's, or the stored one) is checked
// when it is read. Large reads decode their chunks in parallel.
//
// Limits of the format, enforced with clear errors: whole sectors only (a
// stream ending inside a sector is padded and reported as ErrUnaligned), at
// most 2^32-1 chunks (128 TiB), 14971 segments (E01…ZZZ), and error2 sector
// numbers below 2^32.
//
// Each on-disk structure lives in its own file (descriptor.go, fileheader.go,
// header.go, volume.go, table.go, error2.go, hash.go) with its fields and byte
// offsets documented; every Adler-32 is written, and verified when read.
package ewf
