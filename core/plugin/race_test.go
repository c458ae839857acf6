//go:build race

package plugin

import "time"

// reloadWithin is how soon a rewritten plugin must serve in the reload
// tests: one second, as promised, stretched under the race detector, which
// slows compiling the new version several times over.
const reloadWithin = 5 * time.Second

// rssSlack multiplies the RSS bounds of the sandbox tests: the race
// detector's shadow memory shadows every byte the guest's stack touches.
const rssSlack = 3

// slowCompileTimeout is the compile timeout of the tests whose module
// takes long to compile (wasmbomb.BrTables(4000, 8000, 200)): it must
// outlast every step the test takes while the module compiles (a host
// start and its load_wait, a reload or reconfiguration and its load_wait),
// seconds each under the race detector on a loaded machine, and end before
// the module's compile does (well over 10 s under the race detector).
const slowCompileTimeout = 10 * time.Second
