//go:build !race

package plugin

import "time"

// reloadWithin is how soon a rewritten plugin must serve in the reload
// tests (BenchmarkReload measures it: ~50 ms, the watcher's debounce).
const reloadWithin = time.Second

// rssSlack multiplies the RSS bounds of the sandbox tests (1: as stated).
const rssSlack = 1
