package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CopyOptions configure Copy.
type CopyOptions struct {
	// Force copies into a destination that holds records: a record of the
	// same key is replaced, the others stay.
	Force bool
	// Progress, when set, is called after each page with the records
	// copied so far.
	Progress func(records int)
}

// CopyResult counts what Copy copied.
type CopyResult struct {
	Records int
	Bytes   int64
	// ByKind counts the records by the first segment of their key (the
	// collection: client, grant, refresh, key, ...).
	ByKind map[string]int
}

// Kinds lists ByKind as "client 3, grant 2", by name.
func (r CopyResult) Kinds() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.ByKind[k]))
	}
	return strings.Join(parts, ", ")
}

// ErrNotEmpty: Copy's destination holds records and Force is not set.
var ErrNotEmpty = errors.New("store: the destination holds records")

// copyPage is how many records Copy reads at once; copyBatch and
// copyBatchBytes bound one atomic write, well under what a backend takes
// in one transaction (Badger: a share of its memtable).
const (
	copyPage       = 1000
	copyBatch      = 64
	copyBatchBytes = 128 << 10
)

// Copy copies every live record of src into dst, each with its value and
// expiry, page by page (KV.ScanPage) in batches of atomic writes. The
// destination must hold no record unless opts.Force. Copy reads src as it
// goes, not as one snapshot: copy from a backend no server is writing to.
func Copy(ctx context.Context, dst, src KV, opts CopyOptions) (CopyResult, error) {
	res := CopyResult{ByKind: map[string]int{}}
	if !opts.Force {
		held, err := dst.ScanPage(ctx, "", Page{Limit: 1})
		if err != nil {
			return res, fmt.Errorf("store: copy: read the destination: %w", err)
		}
		if len(held) > 0 {
			return res, fmt.Errorf("%w (%q, for one)", ErrNotEmpty, held[0].Key)
		}
	}
	after := ""
	for {
		page, err := src.ScanPage(ctx, "", Page{After: after, Limit: copyPage})
		if err != nil {
			return res, fmt.Errorf("store: copy: read the source after %q: %w", after, err)
		}
		last := len(page) < copyPage
		for len(page) > 0 {
			n, size := 0, 0
			for n < len(page) && n < copyBatch && (n == 0 || size+len(page[n].Key)+len(page[n].Value) <= copyBatchBytes) {
				size += len(page[n].Key) + len(page[n].Value)
				n++
			}
			if err := copyBatchTo(ctx, dst, page[:n], opts.Force); err != nil {
				return res, err
			}
			for _, e := range page[:n] {
				res.Records++
				res.Bytes += int64(len(e.Key) + len(e.Value))
				kind, _, _ := strings.Cut(e.Key, "/")
				res.ByKind[kind]++
			}
			after = page[n-1].Key
			page = page[n:]
		}
		if opts.Progress != nil {
			opts.Progress(res.Records)
		}
		if last {
			return res, nil
		}
	}
}

// copyBatchTo writes the entries into dst in one Apply. With force, a
// batch that meets records already there is written entry by entry,
// replacing them.
func copyBatchTo(ctx context.Context, dst KV, entries []Entry, force bool) error {
	writes := make([]Write, len(entries))
	for i, e := range entries {
		writes[i] = CreateWrite(e.Key, e.Value, e.ExpiresAt)
	}
	err := dst.Apply(ctx, writes...)
	if errors.Is(err, ErrConflict) && force {
		for _, e := range entries {
			if err := dst.Put(ctx, e.Key, e.Value, e.ExpiresAt); err != nil {
				return fmt.Errorf("store: copy: write %q: %w", e.Key, err)
			}
		}
		return nil
	}
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("store: copy: %q is in the destination already: something else writes to it: %w", entries[0].Key, err)
	}
	if err != nil {
		return fmt.Errorf("store: copy: write %d records from %q: %w", len(entries), entries[0].Key, err)
	}
	return nil
}
