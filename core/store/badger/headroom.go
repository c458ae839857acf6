package badger

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bdg "github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/core/metrics"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

var (
	storageFull = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_storage_full",
		Help: "1 while writes are refused because the data directory's filesystem has less free space than storage.reserve_mib, else 0.",
	})
	storageFree = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_storage_free_bytes",
		Help: "Free space on the data directory's filesystem, as last measured.",
	})
	storageReserve = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_storage_reserve_bytes",
		Help: "Free space below which writes are refused (storage.reserve_mib).",
	})
	writesRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_storage_writes_refused_total",
		Help: "Writes refused because the data directory's filesystem was full.",
	})
)

func init() {
	metrics.Registry.MustRegister(storageFull, storageFree, storageReserve, writesRefused)
}

// DefaultReserve is the free space kept by default under the options Open
// uses: Badger writes memtable logs, tables and the value log through
// mapped sparse files, so a disk that fills under it is a SIGBUS that kills
// the process, not an error. It holds every memtable's log (mapped at twice
// the memtable size), the level-0 table a flush writes, and one compaction
// of the level-0 tables into the base level.
func DefaultReserve() int64 { return defaultReserve(badgerOptions("", Options{})) }

func defaultReserve(bo bdg.Options) int64 {
	return int64(bo.NumMemtables)*2*bo.MemTableSize + bo.MemTableSize +
		int64(bo.NumLevelZeroTables)*bo.MemTableSize + bo.BaseLevelSize
}

// Free space is measured again after this long or this many bytes
// written, whichever comes first: statfs is a system call, a write is a
// few hundred bytes, and the reserve is megabytes.
const (
	headroomInterval = 100 * time.Millisecond
	headroomBytes    = 256 << 10
)

// headroom refuses writes (store.ErrFull) while the filesystem of dir has
// less than reserve bytes free, measuring it at most every
// headroomInterval or headroomBytes.
type headroom struct {
	dir     string
	reserve uint64
	log     *slog.Logger
	// checked (UnixNano), written and full are the fast path's cache.
	checked atomic.Int64
	written atomic.Int64
	full    atomic.Bool
	free    atomic.Uint64
	mu      sync.Mutex // one statfs at a time
}

func newHeadroom(dir string, reserve int64, log *slog.Logger) *headroom {
	h := &headroom{dir: dir, log: log}
	if reserve <= 0 {
		return h
	}
	if _, err := freeSpace(dir); err != nil {
		log.Warn("storage: free space cannot be measured; writes are not held to storage.reserve_mib", "dir", dir, "error", err)
		return h
	}
	h.reserve = uint64(reserve)
	storageReserve.Set(float64(h.reserve))
	h.measure(time.Now())
	return h
}

// check returns store.ErrFull (wrapped, naming the directory) while the
// reserve is not free, after a write of n bytes is counted.
func (h *headroom) check(n int) error {
	if h.reserve == 0 {
		return nil
	}
	written := h.written.Add(int64(n))
	now := time.Now()
	if now.UnixNano()-h.checked.Load() >= int64(headroomInterval) || written >= headroomBytes {
		h.measure(now)
	}
	if h.full.Load() {
		writesRefused.Inc()
		return h.err()
	}
	return nil
}

// state is check without counting a write (readiness probes).
func (h *headroom) state() error {
	if h.reserve == 0 {
		return nil
	}
	if now := time.Now(); now.UnixNano()-h.checked.Load() >= int64(headroomInterval) {
		h.measure(now)
	}
	if h.full.Load() {
		return h.err()
	}
	return nil
}

func (h *headroom) err() error {
	return fmt.Errorf("%w: %s has %d MiB free, under the %d MiB reserve (storage.reserve_mib); writes resume once space is freed",
		store.ErrFull, h.dir, h.free.Load()>>20, h.reserve>>20)
}

func (h *headroom) measure(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.checked.Load(); c != 0 && now.UnixNano()-c < int64(headroomInterval) && h.written.Load() < headroomBytes {
		return // measured by another writer meanwhile
	}
	free, err := freeSpace(h.dir)
	h.checked.Store(now.UnixNano())
	h.written.Store(0)
	if err != nil {
		// An unmeasurable filesystem keeps the last verdict; the write
		// itself will tell.
		h.log.Warn("storage: cannot measure free space", "dir", h.dir, "error", err)
		return
	}
	h.free.Store(free)
	storageFree.Set(float64(free))
	full := free < h.reserve
	if h.full.Swap(full) == full {
		return
	}
	if full {
		storageFull.Set(1)
		h.log.Error("storage full: refusing writes (503) and serving reads until space is freed",
			"dir", h.dir, "free_mib", free>>20, "reserve_mib", h.reserve>>20)
	} else {
		storageFull.Set(0)
		h.log.Warn("storage has room again: writing", "dir", h.dir, "free_mib", free>>20, "reserve_mib", h.reserve>>20)
	}
}
