//go:build race

package plugin

import "time"

// reloadWithin is how soon a rewritten plugin must serve in the reload
// tests: one second, as promised, stretched under the race detector, which
// slows compiling the new version several times over.
const reloadWithin = 5 * time.Second
