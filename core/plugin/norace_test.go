//go:build !race

package plugin

import "time"

// reloadWithin is how soon a rewritten plugin must serve in the reload
// tests (BenchmarkReload measures it: ~50 ms, the watcher's debounce).
const reloadWithin = time.Second

// rssSlack multiplies the RSS bounds of the sandbox tests (1: as stated).
const rssSlack = 1

// slowCompileTimeout is the compile timeout of the tests whose module
// takes long to compile (wasmbomb.BrTables(4000, 8000, 200)): longer than
// the steps the test takes while it compiles, shorter than its compile
// (which can end within 10 s without the race detector).
const slowCompileTimeout = 4 * time.Second
